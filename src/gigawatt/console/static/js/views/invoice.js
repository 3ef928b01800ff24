// One invoice with its lines, exportable as CSV.
import { h, put, table, fmtTime, fmtUsd, downloadCsv, errorBox } from "../dom.js";

export default {
  mount(root, ctx, [invoiceId]) {
    const body = h("div", {});
    put(root, h("p", {}, h("a", { href: "#/usage" }, "← Usage & invoices")), h("h1", {}, `Invoice ${invoiceId}`), body);
    let loaded = false;
    async function refresh() {
      if (loaded) return; // an issued invoice does not change
      let inv;
      try { inv = await ctx.api(`/v1/invoices/${invoiceId}`); }
      catch (err) { if (err.status === 404) { put(body, errorBox(err)); loaded = true; return; } throw err; }
      loaded = true;
      const csv = h("button", { type: "button", class: "secondary" }, "Export lines as CSV");
      csv.addEventListener("click", () => downloadCsv(`invoice-${inv.id}.csv`,
        ["kind", "description", "gpu_type", "tier", "model", "quantity", "unit", "amount_usd"], inv.lines));
      const fields = [["Tenant", inv.tenant_id], ["Period", inv.period], ["Sequence", String(inv.sequence)], ["Status", inv.status],
        ["Issued (UTC)", fmtTime(inv.issued_at)], ["Subtotal", fmtUsd(inv.subtotal_usd)], ["Credits", fmtUsd(inv.credits_usd)],
        ["Total", h("strong", { "data-testid": "invoice-total" }, fmtUsd(inv.total_usd))]];
      put(body, h("div", { class: "panel" }, h("dl", { class: "fields" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
        h("div", { class: "toolbar" }, csv),
        h("div", { class: "panel" }, table("Lines", [
          ["Kind", (l) => l.kind], ["Description", (l) => l.description], ["Quantity", (l) => `${l.quantity} ${l.unit}`, { num: true }],
          ["Amount", (l) => fmtUsd(l.amount_usd), { num: true }],
        ], inv.lines, "No lines.")));
    }
    return { title: `Invoice ${invoiceId}`, refresh, interval_ms: 5000 };
  },
};
