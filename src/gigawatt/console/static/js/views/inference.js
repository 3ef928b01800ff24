// Inference: models on sale and deployments, requests and tokens per minute, spend by model
// and by key (from the token usage records of GET /v1/usage?kind=inference).
import { list, listAll } from "../api.js";
import { h, put, table, fmtUsd, fmtNum, badge } from "../dom.js";
import { timeChart } from "../charts.js";

function perMinute(records, x0, now) {
  const minutes = Math.ceil((now - x0) / 60);
  const req = new Array(minutes).fill(0), tok = new Array(minutes).fill(0);
  for (const r of records) {
    const i = Math.floor((r.at - x0) / 60);
    if (i >= 0 && i < minutes) { req[i] += 1; tok[i] += r.total_tokens; }
  }
  const pts = (arr) => arr.map((v, i) => [x0 + i * 60, v]);
  return { requests: pts(req), tokens: pts(tok) };
}

function sumBy(records, key) {
  const out = new Map();
  for (const r of records) {
    const k = r[key] || "–";
    const cur = out.get(k) || { key: k, requests: 0, tokens: 0, amount: 0 };
    cur.requests += 1; cur.tokens += r.total_tokens; cur.amount += Number(r.amount_usd);
    out.set(k, cur);
  }
  return [...out.values()].sort((a, b) => b.amount - a.amount);
}

const SPEND_COLUMNS = (label) => [[label, (r) => h("span", { class: "mono" }, r.key)], ["Requests", (r) => String(r.requests), { num: true }],
  ["Tokens", (r) => fmtNum(r.tokens, 0), { num: true }], ["Spend", (r) => fmtUsd(r.amount), { num: true }]];

export default {
  mount(root, ctx) {
    const models = h("div", { class: "panel" });
    const deps = h("div", { class: "panel" });
    const charts = h("div", { class: "grid" });
    const spend = h("div", { class: "grid" });
    put(root, h("h1", {}, "Inference"), charts, spend, models, deps);
    async function refresh() {
      const [ms, ds, recs] = await Promise.all([
        list("/v1/models").catch(() => []), list("/v1/deployments").catch(() => []),
        listAll("/v1/usage", { kind: "inference", limit: 5000 }),
      ]);
      const now = Date.now() / 1000, x0 = now - 3600;
      const recent = recs.filter((r) => r.at >= x0);
      const pm = perMinute(recent, x0, now);
      put(charts,
        h("div", { class: "panel" }, timeChart({ title: "Requests per minute (last hour)", series: [{ name: "requests", points: pm.requests }], x0, x1: now })),
        h("div", { class: "panel" }, timeChart({ title: "Tokens per minute (last hour)", series: [{ name: "tokens", points: pm.tokens }], x0, x1: now })));
      put(spend,
        h("div", { class: "panel" }, table("Spend by model", SPEND_COLUMNS("Model"), sumBy(recs, "model"), "No inference requests yet.")),
        h("div", { class: "panel" }, table("Spend by key", SPEND_COLUMNS("Key"), sumBy(recs, "key_id"), "No inference requests yet.")));
      put(models, table("Models", [
        ["Model", (m) => h("span", { class: "mono" }, m.id)], ["Served by", (m) => m.served_by || "–"],
        ["Ready replicas", (m) => m.ready_replicas === undefined ? "–" : String(m.ready_replicas), { num: true }],
        ["$ / M input tokens", (m) => m.price_per_million_input_tokens ?? "–", { num: true }],
        ["$ / M output tokens", (m) => m.price_per_million_output_tokens ?? "–", { num: true }],
      ], ms, "No models registered (admin: POST /v1/models)."));
      put(deps, table("Deployments", [
        ["Deployment", (d) => h("span", { class: "mono" }, d.id)], ["Model", (d) => d.model], ["Status", (d) => badge(d.status)],
        ["Replicas", (d) => `${(d.replica_states || []).filter((r) => r.status === "ready").length} ready / ${d.replicas}`],
        ["GPUs each", (d) => `${d.gpus}×${d.gpu_type}`], ["Tier", (d) => d.tier], ["Reason", (d) => d.reason || ""],
      ], ds, "No deployments."));
    }
    return { title: "Inference", refresh, interval_ms: 5000 };
  },
};
