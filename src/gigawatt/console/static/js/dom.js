// DOM helpers: build elements from data (text only, never HTML strings) and format values.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** An HTML element: h("td", {class: "num"}, "3"). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Seconds since the epoch as "2026-12-01 06:30:05" (UTC, so every viewer sees the same). */
export function fmtTime(epoch) {
  if (epoch === null || epoch === undefined) return "–";
  return new Date(epoch * 1000).toISOString().slice(0, 19).replace("T", " ");
}

export function fmtUsd(value) {
  const n = Number(value || 0);
  const digits = Math.abs(n) >= 100 ? 2 : Math.abs(n) >= 1 ? 2 : 4;
  return "$" + n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtBig(value) {
  const n = Number(value || 0);
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + " B";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (a >= 1e3) return (n / 1e3).toFixed(1) + " k";
  return n.toFixed(a < 10 ? 2 : 0);
}

export function fmtNum(value, digits = 2) {
  return Number(value || 0).toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function fmtPct(value) {
  return (Number(value || 0) * 100).toFixed(1) + "%";
}

export function badge(status) {
  return h("span", { class: `badge s-${status}` }, status);
}

/** A table: columns are [header, (row) => cell, {num: true}?]. */
export function table(caption, columns, rows, empty = "Nothing yet.") {
  const head = h("tr", {}, columns.map(([title, , opt]) => h("th", { scope: "col", class: opt?.num ? "num" : null }, title)));
  const body = rows.length
    ? rows.map((row) => h("tr", {}, columns.map(([, cell, opt]) => h("td", { class: opt?.num ? "num" : null }, cell(row)))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))];
  const t = h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, head), h("tbody", {}, body));
  // A wide table scrolls on its own (reachable by keyboard) instead of the page.
  return h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": caption || "table" }, t);
}

export function card(label, value, id) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value", "data-testid": id }, value));
}

export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
}

/** Replace the children of el. */
export function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** Offer rows as a CSV download (a same-origin blob: URL, nothing leaves the browser). */
export function downloadCsv(filename, columns, rows) {
  const esc = (v) => {
    const t = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(t) || /^[=+\-@]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  };
  const lines = [columns.join(","), ...rows.map((r) => columns.map((c) => esc(r[c])).join(","))];
  const url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export const TIERS = ["internal", "reserved", "on_demand", "spot"];
