// Jobs: a filterable list and a submit form (the job page is views/job.js).
import { list } from "../api.js";
import { h, put, table, badge, fmtTime, errorBox, TIERS } from "../dom.js";

const STATES = ["", "queued", "starting", "running", "preempted", "succeeded", "failed", "cancelled"];

/** Split a command line on spaces, keeping "quoted words" and 'quoted words' together. */
export function splitCommand(text) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(text))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2] !== undefined ? m[2] : m[3]);
  return out;
}

function field(id, label, input) {
  input.id = id;
  input.name = id;
  return h("label", { for: id }, label, input);
}

function submitForm(ctx, gpuTypes, onError) {
  const name = h("input", { value: "console-job", required: true, maxlength: 128 });
  const command = h("input", { value: "python3 -c \"print('hello from gigawatt')\"", required: true, size: 40 });
  const gpus = h("input", { type: "number", min: 1, value: 1, required: true });
  const gpuType = h("select", {}, gpuTypes.map((t) => h("option", { value: t }, t)));
  const tier = h("select", {}, TIERS.filter((t) => t !== "internal" || ctx.me.admin || ctx.me.tenant_kind === "internal")
    .map((t) => h("option", { value: t, selected: t === "on_demand" }, t)));
  const runtime = h("input", { type: "number", min: 1, placeholder: "none" });
  const button = h("button", { type: "submit" }, "Submit job");
  const form = h("form", { class: "inline", "aria-label": "Submit a job" },
    field("job-name", "Name", name), field("job-command", "Command", command), field("job-gpus", "GPUs", gpus),
    field("job-gpu-type", "GPU type", gpuType), field("job-tier", "Tier", tier), field("job-max-runtime", "Max runtime (s)", runtime), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      const body = { name: name.value, command: splitCommand(command.value), gpus: Number(gpus.value), gpu_type: gpuType.value, tier: tier.value };
      if (runtime.value) body.max_runtime_s = Number(runtime.value);
      const job = await ctx.api("/v1/jobs", { method: "POST", body });
      ctx.go(`#/jobs/${job.id}`);
    } catch (err) {
      onError(err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export default {
  mount(root, ctx) {
    const status = h("select", { id: "filter-status" }, STATES.map((s) => h("option", { value: s }, s || "any")));
    const text = h("input", { id: "filter-text", type: "search", placeholder: "name or id" });
    const tierFilter = h("select", { id: "filter-tier" }, ["", ...TIERS].map((t) => h("option", { value: t }, t || "any")));
    const tenant = h("input", { id: "filter-tenant", placeholder: "tenant id" });
    const listBox = h("div", { class: "panel" });
    const formErr = h("div", { "aria-live": "assertive" });
    const formBox = h("section", { class: "panel", "aria-labelledby": "submit-title" }, h("h2", { id: "submit-title" }, "Submit a job"), formErr);
    let rows = [];
    const draw = () => {
      const q = text.value.trim().toLowerCase();
      const shown = rows.filter((j) => (!q || j.name.toLowerCase().includes(q) || j.id.toLowerCase().includes(q))
        && (!tierFilter.value || j.tier === tierFilter.value));
      put(listBox, table(`${shown.length} job(s)`, [
        ["Job", (j) => h("a", { href: `#/jobs/${j.id}` }, j.name, " ", h("span", { class: "muted mono" }, j.id))],
        ["Status", (j) => badge(j.status)],
        ["Tenant", (j) => h("span", { class: "mono" }, j.tenant_id)],
        ["Tier", (j) => j.tier],
        ["GPUs", (j) => `${j.gpus}×${j.gpu_type}`],
        ["Submitted (UTC)", (j) => fmtTime(j.submitted_at)],
        ["Reason", (j) => j.reason || ""],
      ], shown, "No jobs match."));
    };
    for (const el of [status, tenant]) el.addEventListener("change", () => refresh());
    text.addEventListener("input", draw);
    tierFilter.addEventListener("change", draw);
    const filters = h("form", { class: "inline", role: "search", "aria-label": "Filter jobs" },
      h("label", { for: "filter-status" }, "Status", status),
      h("label", { for: "filter-text" }, "Search", text),
      h("label", { for: "filter-tier" }, "Tier", tierFilter),
      ctx.me.admin ? h("label", { for: "filter-tenant" }, "Tenant", tenant) : null);
    filters.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
    put(root, h("h1", {}, "Jobs"), formBox, filters, listBox);
    let formReady = false;
    async function refresh() {
      if (!formReady) {
        const fleet = await ctx.api("/v1/fleet", { params: { nodes: false } });
        const types = [...new Set(fleet.sites.flatMap((s) => s.gpu_types.map((g) => g.gpu_type)))];
        formBox.append(submitForm(ctx, types, (err) => put(formErr, errorBox(err))));
        formReady = true;
      }
      rows = await list("/v1/jobs", { status: status.value, tenant_id: tenant.value.trim(), limit: 500 });
      draw();
    }
    return { title: "Jobs", refresh, interval_ms: 2000 };
  },
};
