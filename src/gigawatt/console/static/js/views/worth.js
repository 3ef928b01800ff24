// What is it worth (admin): metered utilisation and tier mix over a window, run through the
// economics engine for this fleet and for the same policy on one gigawatt (GET /v1/worth).
import { h, put, table, fmtUsd, fmtBig, fmtPct, fmtNum } from "../dom.js";
import { barChart } from "../charts.js";

const WINDOWS = [["1", "last hour"], ["24", "last 24 hours"], ["168", "last 7 days"], ["720", "last 30 days"]];
const ROWS = [["Revenue", "revenue_usd", "usd"], ["Power cost", "power_cost_usd", "usd"], ["Depreciation", "depreciation_usd", "usd"],
  ["Opex", "opex_usd", "usd"], ["Operating income", "operating_income_usd", "usd"], ["Operating margin", "operating_margin", "pct"],
  ["Net income", "net_income_usd", "usd"], ["GPUs", "gpus", "num"], ["GPU-hours billed", "gpu_hours_billed", "num"]];

function value(v, kind) {
  if (v === undefined || v === null) return "–";
  return kind === "usd" ? "$" + fmtBig(v) : kind === "pct" ? fmtPct(v) : fmtBig(v);
}

export default {
  mount(root, ctx) {
    let windowH = sessionStorage.getItem("gigawatt.worthWindow") || "24";
    const select = h("select", { id: "worth-window" }, WINDOWS.map(([v, l]) => h("option", { value: v, selected: v === windowH }, l)));
    select.addEventListener("change", () => { windowH = select.value; sessionStorage.setItem("gigawatt.worthWindow", windowH); refresh(); });
    const body = h("div", {});
    put(root, h("h1", {}, "What is it worth"),
      h("p", { class: "muted" }, "Utilisation, tier mix and realised prices metered over the window, valued by the economics engine ",
        "(annual run-rate; power, capex and opex are the engine's defaults; see docs/economics.md)."),
      h("div", { class: "toolbar" }, h("label", { for: "worth-window" }, "Measured over", select)), body);
    async function refresh() {
      const w = await ctx.api("/v1/worth", { params: { window_h: windowH } });
      const m = w.measured;
      const tiers = Object.keys(m.gpu_hours_by_tier);
      put(body,
        h("div", { class: "cards" },
          h("div", { class: "card" }, h("div", { class: "label" }, "Utilisation (metered)"), h("div", { class: "value", "data-testid": "utilization" }, fmtPct(m.utilization))),
          h("div", { class: "card" }, h("div", { class: "label" }, "Internal share"), h("div", { class: "value" }, fmtPct(m.internal_share))),
          h("div", { class: "card" }, h("div", { class: "label" }, "Metered revenue in window"), h("div", { class: "value" }, fmtUsd(m.metered_revenue_usd))),
          h("div", { class: "card" }, h("div", { class: "label" }, "Annualised metered revenue"), h("div", { class: "value", "data-testid": "annualised" }, "$" + fmtBig(m.annualised_metered_revenue_usd))),
          h("div", { class: "card" }, h("div", { class: "label" }, "Revenue on one gigawatt, same policy"), h("div", { class: "value", "data-testid": "gw-revenue" }, w.gigawatt ? "$" + fmtBig(w.gigawatt.revenue_usd) + "/yr" : "–"))),
        h("div", { class: "grid" },
          h("div", { class: "panel" }, barChart({ title: "GPU-hours by tier in the window", categories: tiers,
            series: [{ name: "total", label: "GPU-hours", values: tiers.map((t) => m.gpu_hours_by_tier[t]) }], fmt: (v) => fmtNum(v, 2) })),
          h("div", { class: "panel" }, table("Measured inputs", [["Input", (r) => r[0]], ["Value", (r) => r[1], { num: true }]], [
            ["GPUs", String(m.gpus)], ["IT power of the GPUs", `${fmtNum(m.it_power_mw * 1000, 1)} kW`],
            ["Capacity in window", `${fmtNum(m.capacity_gpu_hours, 1)} GPU-h`], ["Used", `${fmtNum(m.used_gpu_hours, 3)} GPU-h`],
            ...Object.entries(m.tier_mix).map(([t, s]) => [`Tier mix: ${t}`, fmtPct(s)]),
            ...Object.entries(m.tier_prices).map(([t, p]) => [`Realised price: ${t}`, `${fmtUsd(p)}/GPU-h`]),
          ]))),
        h("div", { class: "panel" }, table("Annual P&L at the measured policy", [
          ["", (r) => r[0]], ["This fleet", (r) => value(w.fleet && w.fleet[r[1]], r[2]), { num: true }],
          ["One gigawatt", (r) => value(w.gigawatt && w.gigawatt[r[1]], r[2]), { num: true }],
        ], ROWS)),
        w.sell_or_keep ? h("div", { class: "panel" }, table(
          `Sell or keep: NPV over the asset life by share kept for internal work (best: ${fmtPct(w.sell_or_keep.optimal_internal_share)} kept` +
            (w.sell_or_keep.break_even_internal_value_per_gpu_hour !== null
              ? `; keeping pays above ${fmtUsd(w.sell_or_keep.break_even_internal_value_per_gpu_hour)} per GPU-hour of internal value)` : ")"),
          [["Kept for internal work", (p) => fmtPct(p.internal_share), { num: true }], ["NPV", (p) => value(p.npv_usd, "usd"), { num: true }],
            ["Net income / yr", (p) => value(p.net_income_usd, "usd"), { num: true }]],
          w.sell_or_keep.frontier)) : null);
    }
    return { title: "What is it worth", refresh, interval_ms: 10000 };
  },
};
