// Fleet history rebuilt from the jobs the caller may see: GPUs held by tier and queue length
// at each moment, from every attempt's start, end and placement and every job's submit time.

/** Intervals [from, to) during which the job waited in the queue. */
function queuedIntervals(job, now) {
  const out = [];
  let from = job.submitted_at;
  for (const a of job.attempts || []) {
    if (from !== null && a.started_at > from) out.push([from, a.started_at]);
    from = a.status === "preempted" && a.ended_at ? a.ended_at : null;
  }
  if (from !== null) {
    const terminal = ["succeeded", "failed", "cancelled"].includes(job.status);
    out.push([from, terminal ? (job.ended_at || from) : now]);
  }
  return out;
}

/** Step series over [x0, now]: {tier: [[t, gpus], ...]} and queue [[t, jobs], ...]. */
export function fleetHistory(jobs, x0, now) {
  const events = []; // [t, key, delta]
  for (const job of jobs) {
    for (const a of job.attempts || []) {
      const gpus = (a.placement || []).reduce((n, p) => n + p.gpus, 0) || job.gpus;
      const end = a.ended_at === null || a.ended_at === undefined ? now : a.ended_at;
      if (end <= x0) continue;
      events.push([a.started_at, job.tier, gpus], [end, job.tier, -gpus]);
    }
    for (const [from, to] of queuedIntervals(job, now)) {
      if (to > x0) events.push([from, "queued", 1], [to, "queued", -1]);
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[2] - b[2]);
  const level = {};
  const series = {};
  const point = (key, t) => {
    series[key] = series[key] || [[x0, 0]];
    const pts = series[key];
    const tt = Math.max(x0, t);
    if (pts.length && pts[pts.length - 1][0] === tt) pts[pts.length - 1][1] = level[key];
    else pts.push([tt, level[key]]);
  };
  for (const [t, key, delta] of events) {
    if (t > now) continue;
    level[key] = (level[key] || 0) + delta;
    point(key, t);
  }
  return series;
}
