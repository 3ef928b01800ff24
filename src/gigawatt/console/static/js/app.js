// The console shell: sign-in, navigation (hash routes), and live refresh of the open view.
import { api, session } from "./api.js";
import { h, put, errorBox } from "./dom.js";
import fleet from "./views/fleet.js";
import jobs from "./views/jobs.js";
import job from "./views/job.js";
import usage from "./views/usage.js";
import invoice from "./views/invoice.js";
import inference from "./views/inference.js";
import tenants from "./views/tenants.js";
import worth from "./views/worth.js";

const ROUTES = [
  { path: /^fleet$/, view: fleet, nav: "fleet", label: "Fleet" },
  { path: /^jobs$/, view: jobs, nav: "jobs", label: "Jobs" },
  { path: /^jobs\/([\w.:-]+)$/, view: job, nav: "jobs" },
  { path: /^usage$/, view: usage, nav: "usage", label: "Usage & invoices" },
  { path: /^invoices\/([\w.:-]+)$/, view: invoice, nav: "usage" },
  { path: /^inference$/, view: inference, nav: "inference", label: "Inference" },
  { path: /^tenants$/, view: tenants, nav: "tenants", label: "Tenants & keys", admin: true },
  { path: /^worth$/, view: worth, nav: "worth", label: "What is it worth", admin: true },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const status = document.getElementById("status");

let current = null; // {timer, refresh, stop}
let me = null;

function stopCurrent() {
  if (current) {
    clearTimeout(current.timer);
    current.stopped = true;
    if (current.stop) current.stop();
  }
  current = null;
}

function signIn(message) {
  stopCurrent();
  me = null;
  nav.hidden = true;
  put(who);
  document.title = "Sign in – Gigawatt console";
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const form = h("form", { "aria-labelledby": "signin-title" },
    h("label", { for: "api-key" }, "API key", input),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    session.set(input.value.trim());
    await start();
  });
  put(main, h("section", { class: "signin panel" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", { class: "muted" }, "Paste an API key: the admin key that ", h("code", {}, "gigawatt serve"),
      " printed, or a tenant key. It stays in this browser tab (session storage) and is sent only to this server."),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    form));
  input.focus();
}

function drawNav(routeNav) {
  put(nav, ROUTES.filter((r) => r.label && (!r.admin || me.admin)).map((r) =>
    h("a", { href: `#/${r.nav}`, "aria-current": r.nav === routeNav ? "page" : null }, r.label)));
}

async function route() {
  if (!me) return;
  const path = location.hash.replace(/^#\/?/, "") || "fleet";
  let match = null, found = null;
  for (const r of ROUTES) {
    match = path.match(r.path);
    if (match) { found = r; break; }
  }
  stopCurrent();
  if (!found || (found.admin && !me.admin)) {
    drawNav(null);
    put(main, h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, "No such page. ", h("a", { href: "#/fleet" }, "Go to the fleet.")));
    return;
  }
  drawNav(found.nav);
  const root = h("div", {});
  put(main, root);
  const view = found.view;
  const ctx = { me, api, go: (hash) => { location.hash = hash; } };
  const state = { stopped: false, timer: null };
  current = state;
  const mounted = view.mount(root, ctx, match.slice(1));
  state.stop = mounted.stop;
  document.title = `${mounted.title || "Gigawatt"} – Gigawatt console`;
  const heading = root.querySelector("h1");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
  const tick = async () => {
    if (state.stopped) return;
    if (!document.hidden) {
      try {
        await mounted.refresh();
        status.textContent = `Live · updated ${new Date().toISOString().slice(11, 19)} UTC`;
      } catch (err) {
        if (err.status === 401) { session.clear(); signIn("Your key was refused (revoked or wrong). Sign in again."); return; }
        status.textContent = `Update failed: ${err.message}`;
        if (mounted.onError) mounted.onError(err);
      }
    }
    if (!state.stopped) state.timer = setTimeout(tick, mounted.interval_ms || 2000);
  };
  await tick();
}

async function start() {
  if (!session.key) { signIn(); return; }
  try {
    me = await api("/v1/me");
  } catch (err) {
    session.clear();
    signIn(err.status === 401 ? "That key was not accepted." : `Cannot sign in: ${err.message}`);
    return;
  }
  nav.hidden = false;
  const out = h("button", { type: "button", class: "secondary" }, "Sign out");
  out.addEventListener("click", () => { session.clear(); location.hash = ""; signIn(); });
  put(who, h("span", { "data-testid": "whoami" }, me.admin ? "admin" : `tenant ${me.tenant_id}`), out);
  if (!location.hash) history.replaceState(null, "", "#/fleet");
  await route();
}

window.addEventListener("hashchange", () => { route().catch((e) => put(main, errorBox(e))); });
start().catch((e) => put(main, errorBox(e)));
