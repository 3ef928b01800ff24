// Usage and invoices: spend by day and by tier, usage records (CSV export), invoices and,
// for the admin, closing a billing period.
import { list, listAll } from "../api.js";
import { h, put, table, fmtTime, fmtUsd, fmtNum, downloadCsv, errorBox, TIERS } from "../dom.js";
import { barChart } from "../charts.js";

const CSV_COLUMNS = ["kind", "id", "tenant_id", "job_id", "attempt", "model", "gpu_type", "tier", "gpus",
  "start", "end", "gpu_seconds", "energy_kwh", "prompt_tokens", "completion_tokens", "amount_usd", "period", "invoice_id"];

function spendCharts(records) {
  const days = [...new Set(records.map((r) => fmtTime(r.start).slice(0, 10)))].sort().slice(-31);
  const groups = [...TIERS, "inference"];
  const byDay = Object.fromEntries(groups.map((g) => [g, days.map(() => 0)]));
  const byTier = Object.fromEntries(groups.map((g) => [g, 0]));
  for (const r of records) {
    const g = r.kind === "inference" ? "inference" : r.tier;
    const i = days.indexOf(fmtTime(r.start).slice(0, 10));
    const amount = Number(r.amount_usd);
    if (i >= 0 && byDay[g]) byDay[g][i] += amount;
    if (g in byTier) byTier[g] += amount;
  }
  const used = groups.filter((g) => byTier[g] > 0);
  return [
    h("div", { class: "panel" }, barChart({ title: "Spend by day (USD)", categories: days.map((d) => d.slice(5)),
      series: used.map((g) => ({ name: g, values: byDay[g] })), unit: "$", fmt: fmtUsd })),
    h("div", { class: "panel" }, barChart({ title: "Spend by tier (USD)", categories: used,
      series: [{ name: "total", label: "spend", values: used.map((g) => byTier[g]) }], unit: "$", fmt: fmtUsd })),
  ];
}

function closeForm(ctx, onDone) {
  const period = h("input", { id: "close-period", placeholder: "YYYY-MM (default: this month)", pattern: "\\d{4}-\\d{2}", size: 30 });
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Close period");
  const form = h("form", { class: "inline", "aria-label": "Close a billing period" },
    h("label", { for: "close-period" }, "Period", period), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      const res = await ctx.api("/v1/invoices/close", { method: "POST", body: period.value ? { period: period.value } : {} });
      put(out, h("p", { class: "notice", "data-testid": "close-result" }, `Period ${res.period} closed: ${res.created.length} new invoice(s), ${res.invoices.length} in all.`));
      await onDone();
    } catch (err) { put(out, errorBox(err)); }
    finally { button.disabled = false; }
  });
  return h("section", { class: "panel", "aria-labelledby": "close-title" }, h("h2", { id: "close-title" }, "Close a billing period"), form, out);
}

export default {
  mount(root, ctx) {
    const charts = h("div", { class: "grid" });
    const invoices = h("div", { class: "panel" });
    const usage = h("div", { class: "panel" });
    let records = [];
    const csv = h("button", { type: "button", class: "secondary" }, "Export usage as CSV");
    csv.addEventListener("click", () => downloadCsv("gigawatt-usage.csv", CSV_COLUMNS, records));
    put(root, h("h1", {}, "Usage & invoices"), charts,
      ctx.me.admin ? closeForm(ctx, () => refresh()) : null,
      invoices, h("div", { class: "toolbar" }, csv), usage);
    async function refresh() {
      const [recs, invs] = await Promise.all([listAll("/v1/usage", { limit: 5000 }), list("/v1/invoices")]);
      records = recs;
      put(charts, spendCharts(records));
      put(invoices, table("Invoices", [
        ["Invoice", (i) => h("a", { href: `#/invoices/${i.id}` }, i.id)], ["Tenant", (i) => h("span", { class: "mono" }, i.tenant_id)],
        ["Period", (i) => i.period], ["Status", (i) => i.status], ["Issued (UTC)", (i) => fmtTime(i.issued_at)],
        ["Total", (i) => fmtUsd(i.total_usd), { num: true }],
      ], invs, "No invoices yet: a period's invoices appear when it is closed."));
      const recent = records.slice(-200).reverse();
      put(usage, table(`Usage records (latest ${recent.length} of ${records.length})`, [
        ["Kind", (r) => r.kind], ["Job / model", (r) => r.kind === "inference" ? r.model : h("a", { href: `#/jobs/${r.job_id}` }, r.job_id)],
        ["Tenant", (r) => h("span", { class: "mono" }, r.tenant_id)], ["Tier", (r) => r.tier || "–"],
        ["GPUs", (r) => r.gpu_type ? `${r.gpus}×${r.gpu_type}` : "–"], ["Start (UTC)", (r) => fmtTime(r.start)],
        ["GPU-hours", (r) => fmtNum(r.gpu_seconds / 3600, 4), { num: true }],
        ["Tokens", (r) => r.kind === "inference" ? String(r.total_tokens) : "–", { num: true }],
        ["Amount", (r) => fmtUsd(r.amount_usd), { num: true }],
      ], recent, "No usage yet: a job's usage is metered while and after it runs."));
    }
    return { title: "Usage & invoices", refresh, interval_ms: 5000 };
  },
};
