// Hand-rolled SVG charts (lines over time, grouped or stacked bars): no library to vendor.
import { h, s } from "./dom.js";

export const COLORS = {
  internal: "#6d28d9", reserved: "#0b5cad", on_demand: "#0f766e", spot: "#b45309",
  queued: "#a4161a", other: "#6b7280", total: "#0b3d91", requests: "#0b5cad", tokens: "#b45309",
};
const PALETTE = ["#0b5cad", "#b45309", "#0f766e", "#6d28d9", "#a4161a", "#374151"];

export function colorOf(name, i = 0) {
  return COLORS[name] || PALETTE[i % PALETTE.length];
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function legend(series) {
  return h("div", { class: "legend" }, series.map((x, i) =>
    h("span", {}, h("span", { class: "sw", "aria-hidden": "true", style: `background:${colorOf(x.name, i)}` }), x.label || x.name)));
}

const W = 640, H = 220, L = 58, R = 10, T = 10, B = 26;

/** Axis labels: short, and distinct however small the scale. */
function tick(v, unit) {
  const t = String(Number(v.toPrecision(3)));
  return unit === "$" ? "$" + t : t;
}

function axes(svg, ymax, unit) {
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e5e7eb" }));
    svg.append(s("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, tick((ymax * i) / 4, unit)));
  }
  svg.append(s("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
}

/** Step lines over time: series = [{name, label?, points: [[epoch_s, value], ...]}]. */
export function timeChart({ title, series, x0, x1, unit = "", fmt = (v) => String(Math.round(v * 100) / 100) }) {
  const ymax = niceMax(Math.max(1, ...series.flatMap((x) => x.points.map((p) => p[1]))));
  const span = Math.max(1, x1 - x0);
  const X = (t) => L + ((t - x0) / span) * (W - L - R);
  const Y = (v) => T + (H - T - B) * (1 - v / ymax);
  const latest = series.map((x) => `${x.label || x.name} ${x.points.length ? fmt(x.points[x.points.length - 1][1]) : 0}`).join(", ");
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}; latest: ${latest}` },
    s("title", {}, title));
  axes(svg, ymax, unit);
  for (let i = 0; i <= 4; i++) {
    const t = x0 + (span * i) / 4;
    const label = new Date(t * 1000).toISOString().slice(11, 16);
    svg.append(s("text", { x: X(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, label));
  }
  series.forEach((x, i) => {
    if (!x.points.length) return;
    let d = "";
    x.points.forEach(([t, v], j) => {
      const px = X(Math.max(x0, t)).toFixed(1), py = Y(v).toFixed(1);
      d += j === 0 ? `M${px},${py}` : `H${px}V${py}`;
    });
    d += `H${X(x1).toFixed(1)}`;
    svg.append(s("path", { d, fill: "none", stroke: colorOf(x.name, i), "stroke-width": 2 }));
  });
  return h("figure", { class: "figure" }, h("figcaption", {}, h("h2", {}, title)), svg, legend(series));
}

/** Bars per category; stacked when several series: series = [{name, values: [...]}]. */
export function barChart({ title, categories, series, unit = "", fmt = (v) => String(v) }) {
  const totals = categories.map((_, c) => series.reduce((a, x) => a + (Number(x.values[c]) || 0), 0));
  const ymax = niceMax(Math.max(0, ...totals));
  const Y = (v) => T + (H - T - B) * (1 - v / ymax);
  const n = Math.max(1, categories.length);
  const slot = (W - L - R) / n;
  const bw = Math.max(4, Math.min(48, slot * 0.7));
  const desc = categories.map((c, i) => `${c}: ${fmt(totals[i])}`).join("; ");
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}. ${desc || "no data"}` },
    s("title", {}, title));
  axes(svg, ymax, unit);
  const every = Math.ceil(n / 8);
  categories.forEach((cat, c) => {
    const x = L + slot * c + (slot - bw) / 2;
    let base = 0;
    series.forEach((ser, i) => {
      const v = Number(ser.values[c]) || 0;
      if (v <= 0) return;
      const y1 = Y(base + v), y0 = Y(base);
      svg.append(s("rect", { x: x.toFixed(1), y: y1.toFixed(1), width: bw.toFixed(1), height: Math.max(0.5, y0 - y1).toFixed(1), fill: colorOf(ser.name, i) },
        s("title", {}, `${cat} ${ser.label || ser.name}: ${fmt(v)}`)));
      base += v;
    });
    if (c % every === 0) svg.append(s("text", { x: (x + bw / 2).toFixed(1), y: H - 8, "text-anchor": "middle" }, cat));
  });
  if (!categories.length) svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
  return h("figure", { class: "figure" }, h("figcaption", {}, h("h2", {}, title)), svg, legend(series));
}
