// One job: fields, attempts with placement and reasons, the log tail following live, cancel.
import { h, put, table, badge, fmtTime, errorBox } from "../dom.js";

const TERMINAL = ["succeeded", "failed", "cancelled"];
const TAIL_CHARS = 64 * 1024;

export default {
  mount(root, ctx, [jobId]) {
    const head = h("h1", {}, `Job ${jobId}`);
    const info = h("div", { class: "panel" });
    const attempts = h("div", { class: "panel" });
    const log = h("pre", { class: "log", tabindex: "0", "aria-label": "log tail", "data-testid": "log" });
    const logNote = h("p", { class: "muted" });
    const msg = h("div", { "aria-live": "assertive" });
    const cancel = h("button", { type: "button", class: "danger" }, "Cancel job");
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try { await ctx.api(`/v1/jobs/${jobId}/cancel`, { method: "POST" }); await refresh(); }
      catch (err) { put(msg, errorBox(err)); cancel.disabled = false; }
    });
    put(root, h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")), head, msg, info, attempts,
      h("section", { class: "panel", "aria-labelledby": "log-title" }, h("h2", { id: "log-title" }, "Log tail (follows live)"), logNote, log));
    let done = false, missing = false;
    async function refresh() {
      if (missing) return;
      let job;
      try { job = await ctx.api(`/v1/jobs/${jobId}`); }
      catch (err) {
        if (err.status === 404) {
          missing = true;
          put(root, h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")), h("h1", { tabindex: "-1" }, "Job not found"),
            h("p", { class: "error", role: "alert", "data-testid": "not-found" }, err.message));
          return;
        }
        throw err;
      }
      head.textContent = `Job ${job.name}`;
      const fields = [["ID", h("span", { class: "mono" }, job.id)], ["Status", badge(job.status)], ["Reason", job.reason || "–"],
        ["Tenant", h("span", { class: "mono" }, job.tenant_id)], ["Tier", job.tier], ["GPUs", `${job.gpus}×${job.gpu_type}`],
        ["Command", h("code", {}, job.command.join(" "))], ["Submitted (UTC)", fmtTime(job.submitted_at)],
        ["Started", fmtTime(job.started_at)], ["Ended", fmtTime(job.ended_at)],
        ["Max runtime", job.max_runtime_s ? `${job.max_runtime_s} s` : "none"], ["Cancel requested", job.cancel_requested ? "yes" : "no"]];
      put(info, h("dl", { class: "fields" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        TERMINAL.includes(job.status) || job.cancel_requested ? null : h("p", {}, cancel));
      put(attempts, table("Attempts", [
        ["#", (a) => String(a.attempt), { num: true }], ["Status", (a) => badge(a.status)],
        ["Started", (a) => fmtTime(a.started_at)], ["Ended", (a) => fmtTime(a.ended_at)],
        ["Placement", (a) => a.placement.map((p) => `${p.node_id}: GPUs ${p.gpu_indices.join(",")}`).join("; ")],
        ["Exit code", (a) => a.exit_code === null ? "–" : String(a.exit_code), { num: true }], ["Reason", (a) => a.reason || ""],
      ], job.attempts, "Not started yet."));
      if (!done) {
        const body = await ctx.api(`/v1/jobs/${jobId}/logs`);
        const text = body.logs || "";
        const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
        log.textContent = text.length > TAIL_CHARS ? "…" + text.slice(-TAIL_CHARS) : text;
        if (atBottom) log.scrollTop = log.scrollHeight;
        logNote.textContent = body.attempt ? `attempt ${body.attempt}${TERMINAL.includes(job.status) ? " (finished)" : ", following…"}` : "no output yet";
        done = TERMINAL.includes(job.status);
      }
    }
    return { title: `Job ${jobId}`, refresh, interval_ms: 1000 };
  },
};
