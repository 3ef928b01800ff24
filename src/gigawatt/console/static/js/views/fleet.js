// Fleet: sites (power in use against the cap), nodes with GPUs coloured by tier, GPUs by tier
// and queue length over time, jobs by state.
import { list } from "../api.js";
import { h, put, card, fmtNum, table, TIERS } from "../dom.js";
import { timeChart, barChart } from "../charts.js";
import { fleetHistory } from "./history.js";

const STATES = ["queued", "starting", "running", "preempted", "succeeded", "failed", "cancelled"];
const WINDOWS = [["1", "last hour"], ["6", "last 6 hours"], ["24", "last 24 hours"]];

function tierOfGpus(jobs) {
  const map = new Map(); // "node/index" -> tier
  for (const job of jobs) {
    if (!["running", "starting"].includes(job.status)) continue;
    const a = (job.attempts || [])[job.attempts.length - 1];
    if (!a || a.ended_at) continue;
    for (const p of a.placement || []) for (const i of p.gpu_indices) map.set(`${p.node_id}/${i}`, job.tier);
  }
  return map;
}

function siteView(site, tiers) {
  const capKw = site.it_power_mw * 1000;
  const share = capKw > 0 ? Math.min(1, site.power_in_use_kw / capKw) : 0;
  const bar = h("span", {});
  bar.style.width = `${(share * 100).toFixed(1)}%`;
  const nodes = site.nodes.map((n) => {
    const taken = new Set(n.allocated_indices);
    const cells = [];
    for (let i = 0; i < n.gpus; i++) {
      const tier = taken.has(i) ? tiers.get(`${n.node_id}/${i}`) || "other" : "free";
      cells.push(h("span", { class: `gpu t-${tier}`, title: `${n.node_id} GPU ${i}: ${tier}`, role: "img", "aria-label": `GPU ${i} ${tier}` }));
    }
    return h("div", { class: "node" }, h("div", { class: "name" }, `${n.node_id} · ${n.gpus}×${n.gpu_type}`), h("div", { class: "gpus" }, cells));
  });
  return h("section", { class: "panel", "aria-label": `site ${site.name}` },
    h("h2", {}, `Site ${site.name}`),
    h("p", {}, `Power in use ${fmtNum(site.power_in_use_kw, 1)} kW of ${fmtNum(capKw, 0)} kW IT cap (PUE ${site.pue}); `,
      `GPUs ${site.gpus_allocated} / ${site.gpus_total} allocated`),
    h("div", { class: "meter", role: "meter", "aria-label": `power in use at ${site.name}`, "aria-valuemin": 0, "aria-valuemax": capKw, "aria-valuenow": site.power_in_use_kw.toFixed(1) }, bar),
    h("div", { class: "legend" }, [...TIERS, "other", "free"].map((t) => h("span", {}, h("span", { class: `sw t-${t}`, "aria-hidden": "true" }), t === "other" ? "other tenants" : t))),
    h("div", { class: "nodes" }, nodes));
}

export default {
  mount(root, ctx) {
    let windowH = sessionStorage.getItem("gigawatt.fleetWindow") || "1";
    const select = h("select", { id: "fleet-window" }, WINDOWS.map(([v, l]) => h("option", { value: v, selected: v === windowH }, l)));
    const cards = h("div", { class: "cards" });
    const charts = h("div", { class: "grid" });
    const sites = h("div", {});
    const states = h("div", { class: "grid" });
    select.addEventListener("change", () => { windowH = select.value; sessionStorage.setItem("gigawatt.fleetWindow", windowH); refresh(); });
    put(root, h("h1", {}, "Fleet"),
      h("div", { class: "toolbar" }, h("label", { for: "fleet-window" }, "History window", select)),
      cards, charts, sites, states);
    async function refresh() {
      const [fleet, jobs] = await Promise.all([ctx.api("/v1/fleet"), list("/v1/jobs", { limit: 1000 })]);
      const now = Date.now() / 1000;
      const count = Object.fromEntries(STATES.map((s) => [s, 0]));
      for (const j of jobs) count[j.status] = (count[j.status] || 0) + 1;
      const powerKw = fleet.sites.reduce((a, x) => a + x.power_in_use_kw, 0);
      put(cards,
        card("GPUs allocated", `${fleet.gpus_allocated} / ${fleet.gpus_total}`, "gpus-allocated"),
        card("Power in use", `${fmtNum(powerKw, 1)} kW`, "power"),
        card("Jobs queued", String(count.queued), "jobs-queued"),
        card("Jobs running", String(count.running + count.starting), "jobs-running"));
      const x0 = now - Number(windowH) * 3600;
      const hist = fleetHistory(jobs, x0, now);
      const own = ctx.me.admin ? "" : " (your jobs)";
      const tierSeries = TIERS.filter((t) => hist[t]).map((t) => ({ name: t, points: hist[t] }));
      put(charts,
        h("div", { class: "panel" }, timeChart({ title: `GPUs allocated by tier${own}`, series: tierSeries.length ? tierSeries : [{ name: "total", label: "none", points: [[x0, 0]] }], x0, x1: now })),
        h("div", { class: "panel" }, timeChart({ title: `Queue length${own}`, series: [{ name: "queued", points: hist.queued || [[x0, 0]] }], x0, x1: now })));
      const tiers = tierOfGpus(jobs);
      put(sites, fleet.sites.map((site) => siteView(site, tiers)));
      put(states,
        h("div", { class: "panel" }, barChart({ title: `Jobs by state${own}`, categories: STATES, series: [{ name: "total", label: "jobs", values: STATES.map((s) => count[s]) }] })),
        h("div", { class: "panel" }, table("GPUs allocated now, by tier", [["Tier", (r) => r[0]], ["GPUs", (r) => String(r[1]), { num: true }]],
          Object.entries(fleet.allocated_by_tier), "No GPU is allocated.")));
    }
    return { title: "Fleet", refresh, interval_ms: 3000 };
  },
};
