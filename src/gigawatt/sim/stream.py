"""The streaming twin: the same world as :class:`~gigawatt.sim.twin.Twin`, in bounded memory.

:class:`~gigawatt.sim.twin.Twin` keeps a dozen values per job ever simulated (about 1 KB with
the workload columns and the allocation log): fine for a trace, not for a simulated year of
a gigawatt fleet (hundreds of millions of jobs). :class:`StreamTwin` plays exactly the same
events in the same order and makes the same calls on the scheduler (so the same decisions),
but:

- the workload comes in consecutive chunks (:func:`gigawatt.sim.generator.generate_chunks`,
  one simulated day each), so at most two chunks' columns are in memory;
- per-job state lives only while a job is queued or running (a small record, reached from the
  scheduler's request as its ``tag`` and from the job's pending stop event, so no table of
  live jobs is kept), and is dropped when the job ends;
- what the summary needs is aggregated as the run goes on a :class:`~gigawatt.sim.grid.Grid`
  (allocation integrals per tier, GPU type and site; per-job figures by submission time) and in
  log-bin histograms (:mod:`gigawatt.sim.sketch`) for percentiles.

Memory is then the scheduler's state (the fleet and the live jobs) plus fixed-size
accumulators, whatever the number of jobs. :mod:`gigawatt.sim.stream_metrics` turns it into the
same JSON keys as the exact summary.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Final, cast

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import FleetSpec
from gigawatt.scheduling.model import JobRequest
from gigawatt.sim.engine import Engine, NewEvent, Stream
from gigawatt.sim.grid import Grid
from gigawatt.sim.twin import (
    _P_ARRIVE,
    _P_STOP,
    ARRIVE,
    CANCELLED,
    FAIL,
    FAILED,
    FINISH,
    QUEUED,
    REJECTED,
    RUNNING,
    SUCCEEDED,
    SchedulerLike,
)
from gigawatt.sim.workload import TIERS, Restart, Workload

#: ``Workload.meta`` key of a chunk: the time its arrivals end before (the next chunk's arrivals
#: come at or after it), so the twin can play a chunk without generating the next one first.
CHUNK_END = "chunk_end_s"

_NAN: Final = math.nan
#: Per-bucket sums (rows): queueing and JCT per tier (count, sum), internal wheel figures.
SUMS = {
    "queue_n": 4,
    "queue_s": 4,
    "jct_n": 4,
    "jct_s": 4,
    "wheel_n": 1,
    "wheel_s": 1,
    "wheel_never": 1,
    "demand_gs": 1,
    "never_n": 1,
}
#: Per coarse bucket histograms (rows): queueing and JCT per tier, internal wheel waits.
HISTS = {"queue": 4, "jct": 4, "wheel": 1}
_INTERNAL: Final = 0


class _Job:
    """One live job (queued or running)."""

    __slots__ = (
        "attempt",
        "dur",
        "epoch",
        "failures",
        "first",
        "gpus",
        "gtype",
        "i",
        "jid",
        "kept",
        "prio",
        "qsince",
        "run_start",
        "sb",
        "series",
        "status",
        "submit",
        "tenant",
        "tier",
    )

    def __init__(
        self, i: int, submit: float, dur: float, gpus: int, tier: int, tenant: int, gtype: int
    ) -> None:
        self.i = i
        #: the scheduler's id of the job (one string for all its requests and its release)
        self.jid = str(i)
        self.submit = submit
        self.dur = dur
        self.gpus = gpus
        self.tier = tier
        self.tenant = tenant
        self.gtype = gtype
        self.prio = 0
        self.status = QUEUED
        self.attempt = 0
        self.first = _NAN
        self.run_start = 0.0
        self.kept = 0.0
        self.qsince = 0.0
        self.failures = 0
        self.series = 0
        #: bucket of the submission (-1: submitted before a fixed cut, not measured), and the
        #: grid's doublings when it was computed
        self.sb = -1
        self.epoch = 0


class StreamTwin:
    """One bounded-memory run over the chunks of a workload (see the module docstring).

    ``fixed_cut_s`` (absolute time) makes GPU time clipped at that cut exact (``--warmup
    SECONDS``); ``auto`` and ``none`` read the grid. ``buckets`` is the grid's size.
    ``between_chunks`` is called once a chunk has been played and freed, before the next one
    is generated (:class:`gigawatt.sim.heap.HeapTrimmer` gives the freed memory back).
    """

    def __init__(
        self,
        chunks: Iterable[Workload],
        fleet: FleetSpec,
        catalogue: Catalogue,
        scheduler: SchedulerLike,
        *,
        horizon_s: float | None = None,
        seed: int = 0,
        fixed_cut_s: float | None = None,
        buckets: int = 1024,
        between_chunks: Callable[[], object] | None = None,
    ) -> None:
        self._between_chunks = between_chunks
        self._chunks: Iterator[Workload] = iter(chunks)
        first = next(self._chunks, None)
        if first is None or len(first) == 0:
            raise ValueError("the workload has no jobs")
        self._next: Workload | None = first
        self.workload = first  # the first chunk: name, tenants, GPU types, settings
        self.fleet = fleet
        self.sched = scheduler
        self.engine = Engine()
        self.rng = random.Random(seed)
        s = first.settings
        self.checkpoint_s = s.checkpoint_interval_s if s.restart is Restart.CHECKPOINT else 0.0
        self.fail_rate = 1.0 / (s.mtbf_gpu_hours * 3600.0) if s.mtbf_gpu_hours else 0.0
        self.max_retries = s.max_retries
        self._tiers = TIERS  # an attribute: a global would be a dict lookup per job (compiled)
        self.tenant_names = first.tenants
        self.type_names = first.gpu_types
        self.kw_per_gpu = [catalogue.get(g).it_kw_per_gpu for g in first.gpu_types]
        self.sites = [site.name for site in fleet.sites]
        site_index = {name: k for k, name in enumerate(self.sites)}
        self.node_site = (
            {node.node_id: site_index[node.site] for node in fleet.nodes()}
            if len(fleet.sites) > 1
            else {}
        )
        self.t0 = float(first.submit_s[0])
        self.horizon_end = None if horizon_s is None else self.t0 + horizon_s
        span = horizon_s if horizon_s is not None else max(first.span_s, 1.0)
        n_types, n_sites = len(self.type_names), len(self.sites)
        self.n_types, self.n_sites = n_types, n_sites
        sums = dict(SUMS, iwait_gs=n_types)
        self.grid = Grid(self.t0, span / buckets * (1 + 1e-12), 4 * n_types * n_sites, sums, HISTS,
                         size=buckets)  # fmt: skip
        self.fixed_cut = fixed_cut_s
        g = self.grid  # hot-path references (the grid changes its lists in place)
        self._net, self._tail, self._level_max = g.net, g.tail, g.level_max
        self._queue_n, self._queue_s = g.sums["queue_n"], g.sums["queue_s"]
        self._iwait = g.sums["iwait_gs"]
        self._queue_h = g.hists["queue"]
        self._jct_n, self._jct_s, self._jct_h = g.sums["jct_n"], g.sums["jct_s"], g.hists["jct"]
        self._wheel_n, self._wheel_s = g.sums["wheel_n"], g.sums["wheel_s"]
        self._wheel_h, self._demand_gs = g.hists["wheel"], g.sums["demand_gs"]
        n_series = 4 * n_types * n_sites
        self.gpu_s = [0.0] * n_series  # whole run, per series
        self.gpu_s_after_cut = [0.0] * n_series
        self.site_kw = [0.0] * n_sites
        self.peak_kw = [0.0] * n_sites
        self.peak_gpus = 0
        #: jobs queued or running
        self.in_flight = 0
        #: (due, GPUs, submitted) of failed internal jobs that were due after they failed
        self.late: list[tuple[float, int, float]] = []
        self.n = 0
        self.jobs_by_tier = [0] * 4
        self.completed_by_tier = [0] * 4
        self.preempted_by_tier = [0] * 4
        self.lost_by_tier = [0.0] * 4
        self.counts = {SUCCEEDED: 0, FAILED: 0, CANCELLED: 0, REJECTED: 0}
        self.failures = 0
        self.queued = 0
        self.allocated = 0
        self.preemptions = 0
        self.passes = 0
        self.pass_pending = False
        #: an arrival not yet submitted: the end of its instant offers it to the scheduler
        #: (:meth:`_pass`), unless another call to the scheduler comes first
        self._pending: _Job | None = None
        self._base = 0
        self._cols: tuple[list[float], list[float], list[int], list[int], list[int], list[int],
                          list[int]] = ([], [], [], [], [], [], [])  # fmt: skip

    # -- running ---------------------------------------------------------------------------
    def run(
        self, progress: Callable[[float], None] | None = None, progress_every: int = 65536
    ) -> float:
        """Run every chunk to the end (or the horizon); jobs left are cancelled then.
        ``progress(virtual time)`` is called every ``progress_every`` events."""
        handlers = (self._arrive, self._finish, self._fail)
        chunk = self._next
        self._next = None  # the twin keeps no chunk beyond the one it plays
        while chunk is not None:
            self._load(chunk)
            mark = chunk.meta.get(CHUNK_END)
            before = None if mark is None else float(mark)
            if before is not None and float(chunk.submit_s[-1]) >= before:
                raise ValueError(f"a workload chunk has arrivals at or after its end {before}")
            self._base += len(chunk)
            self.engine.run(
                handlers,
                until=self.horizon_end,
                progress=progress,
                progress_every=progress_every,
                stream=Stream(self._cols[0], _P_ARRIVE, ARRIVE),
                instant_end=self._pass,
                before=before,
            )
            self._cols = ([], [], [], [], [], [], [])  # free the lists before the next chunk
            del chunk
            if self._between_chunks is not None:
                self._between_chunks()
            chunk = next(self._chunks, None)
            if chunk is not None and len(chunk) and chunk.submit_s[0] < self.engine.clock.now():
                raise ValueError("workload chunks must follow each other in time")
        # after the last arrival: run what is left (to the horizon, or until every job ended)
        end = self.engine.run(
            handlers,
            until=self.horizon_end,
            progress=progress,
            progress_every=progress_every,
            instant_end=self._pass,
        )
        self._cancel_rest(end)
        return end

    def _load(self, w: Workload) -> None:
        if w.tenants != self.tenant_names or w.gpu_types != self.type_names:
            raise ValueError("workload chunks must share tenants and GPU types")
        self._cols = (
            w.submit_s.tolist(),
            w.duration_s.tolist(),
            w.gpus.tolist(),
            w.tier.tolist(),
            w.tenant.tolist(),
            w.gpu_type.tolist(),
            w.priority.tolist(),
        )

    def _arrive(self, t: float, k: int) -> None:
        submit, dur, gpus, tier, tenant, gtype, prio = self._cols
        g, tr = gpus[k], tier[k]
        job = _Job(self._base - len(submit) + k, submit[k], dur[k], g, tr, tenant[k], gtype[k])
        job.prio = prio[k]
        self.n += 1
        self.jobs_by_tier[tr] = self.jobs_by_tier[tr] + 1
        cut = self.fixed_cut
        if cut is None or job.submit >= cut:
            job.sb = self.grid.index(job.submit)
            job.epoch = self.grid.doublings
        if self._pending is not None:
            self._flush(t)
        self._pending = job

    def _flush(self, t: float) -> None:
        """Submit the pending arrival (another call to the scheduler comes in its instant)."""
        job = self._pending
        assert job is not None
        self._pending = None
        if self._enqueue(t, job):
            self._demand(job)

    def _demand(self, job: _Job) -> None:
        """Count an accepted arrival's internal demand (GPU-seconds asked for)."""
        if job.tier == _INTERNAL and job.sb >= 0:
            end = self.horizon_end
            run = job.dur if end is None else min(job.dur, max(end - job.submit, 0.0))
            self._demand_gs[job.sb] = self._demand_gs[job.sb] + run * job.gpus

    def _bucket(self, job: _Job) -> int:
        """The job's submission bucket now (-1: not measured)."""
        d = self.grid.doublings
        if job.epoch != d and job.sb >= 0:
            job.sb >>= d - job.epoch
            job.epoch = d
        return job.sb

    def _request(self, job: _Job) -> JobRequest:
        return JobRequest(
            job.jid,
            self.tenant_names[job.tenant],
            self._tiers[job.tier],
            self.type_names[job.gtype],
            job.gpus,
            job.submit,
            job.prio,
            job.dur - job.kept,
            job,
        )

    def _enqueue(self, t: float, job: _Job) -> bool:
        try:
            self.sched.submit(self._request(job))
        except Unschedulable:
            self._rejected(job)
            return False
        self._queued(t, job)
        self.pass_pending = True
        return True

    def _rejected(self, job: _Job) -> None:
        if job.attempt:  # a requeue (it has run): it leaves the jobs in flight
            self.in_flight -= 1
        job.status = REJECTED  # its interrupted attempt's stop event is then stale
        self.counts[REJECTED] += 1

    def _queued(self, t: float, job: _Job) -> None:
        if not job.attempt:
            self.in_flight += 1
        job.status = QUEUED
        job.qsince = t
        self.queued += 1

    def _offer(self, t: float, job: _Job, out: list[NewEvent]) -> None:
        """The instant's one arrival, at its end: submitted and, when the scheduler starts it
        at once (nothing else waits), started as the pass over it alone would."""
        try:
            start = self.sched.offer(self._request(job), t)
        except Unschedulable:
            self._rejected(job)
            return
        self._queued(t, job)
        self._demand(job)
        if start is None:
            self.pass_pending = True
            return
        self.passes += 1
        self._start(t, job, start.placement[0][0], out)

    def _pass(self, t: float) -> Iterable[NewEvent] | None:
        """End of an instant: the scheduling pass (as the exact twin), and the level seen."""
        out: list[NewEvent] = []
        job = self._pending
        if job is not None:
            self._pending = None
            self._offer(t, job, out)
        if self.pass_pending:
            sched = self.sched
            while True:
                self.passes += 1
                decision = sched.schedule(t)
                for start in decision.starts:
                    self._start(t, cast(_Job, start.job.tag), start.placement[0][0], out)
                if not decision.preemptions:
                    break
                for p in decision.preemptions:
                    victim = sched.request(p.job_id)
                    assert victim is not None
                    self._preempt(t, cast(_Job, victim.tag))
            self.pass_pending = False
        grid = self.grid
        b = int((t - grid.t0) * grid.inv)
        if b >= grid.size:
            b = grid.index(t)
        if self.allocated > self._level_max[b]:
            self._level_max[b] = self.allocated
        return out

    def _start(self, t: float, job: _Job, node_id: str, out: list[NewEvent]) -> None:
        job.status = RUNNING
        self.queued -= 1
        a = job.attempt + 1
        job.attempt = a
        g = job.gpus
        grid = self.grid
        sb = job.sb
        if job.epoch != grid.doublings:
            sb = self._bucket(job)
        tr = job.tier
        if job.first != job.first:  # first start: queueing delay of the job
            job.first = t
            if sb >= 0:
                delay = t - job.submit
                k = tr * grid.size + sb
                self._queue_n[k] = self._queue_n[k] + 1
                self._queue_s[k] = self._queue_s[k] + delay
                self._queue_h[tr][sb // grid.coarse].add(delay)
                if tr == _INTERNAL:
                    self._wheel(sb, delay, never=False)
        if tr == _INTERNAL and sb >= 0:
            w = job.gtype * grid.size + sb
            self._iwait[w] = self._iwait[w] + (t - job.qsince) * g
        job.run_start = t
        site = self.node_site[node_id] if self.node_site else 0
        s = (tr * self.n_types + job.gtype) * self.n_sites + site
        job.series = s
        b = int((t - grid.t0) * grid.inv)  # grid.change(s, t, g), inlined
        if b >= grid.size:
            b = grid.index(t)
        k = s * grid.size + b
        self._net[k] = self._net[k] + g
        self._tail[k] = self._tail[k] + g * (grid.t0 + (b + 1) * grid.width - t)
        allocated = self.allocated + g
        self.allocated = allocated
        if allocated > self.peak_gpus:
            self.peak_gpus = allocated
        kw = self.site_kw[site] + g * self.kw_per_gpu[job.gtype]
        self.site_kw[site] = kw
        if kw > self.peak_kw[site]:
            self.peak_kw[site] = kw
        remaining = job.dur - job.kept
        payload = (job, a)  # the attempt tells a stale stop event (of an interrupted one)
        if self.fail_rate:
            to_fail = self.rng.expovariate(self.fail_rate * g)
            if to_fail < remaining:
                out.append((t + to_fail, _P_STOP, FAIL, payload))
                return
        out.append((t + remaining, _P_STOP, FINISH, payload))

    def _wheel(self, sb: int, wait: float, *, never: bool) -> None:
        grid = self.grid
        self._wheel_n[sb] = self._wheel_n[sb] + 1
        self._wheel_s[sb] = self._wheel_s[sb] + wait
        if never:
            grid.sums["wheel_never"][sb] += 1
        self._wheel_h[0][sb // grid.coarse].add(wait)

    def _stop(self, t: float, job: _Job) -> float:
        ran = t - job.run_start
        g = job.gpus
        s = job.series
        self.gpu_s[s] = self.gpu_s[s] + g * ran
        cut = self.fixed_cut
        if cut is not None and t > cut:
            self.gpu_s_after_cut[s] = self.gpu_s_after_cut[s] + g * (t - max(job.run_start, cut))
        grid = self.grid
        b = int((t - grid.t0) * grid.inv)  # grid.change(s, t, -g), inlined
        if b >= grid.size:
            b = grid.index(t)
        k = s * grid.size + b
        self._net[k] = self._net[k] - g
        self._tail[k] = self._tail[k] - g * (grid.t0 + (b + 1) * grid.width - t)
        self.allocated -= g
        site = s % self.n_sites
        self.site_kw[site] = self.site_kw[site] - g * self.kw_per_gpu[job.gtype]
        self.sched.release(job.jid)
        return ran

    @staticmethod
    def _job(payload: tuple[_Job, int]) -> _Job | None:
        job, attempt = payload
        if job.status != RUNNING or job.attempt != attempt:
            return None
        return job

    def _end(self, t: float, job: _Job, status: int) -> None:
        job.status = status
        self.in_flight -= 1
        self.counts[status] = self.counts[status] + 1

    def _finish(self, t: float, payload: tuple[_Job, int]) -> Iterable[NewEvent]:
        if self._pending is not None:  # (stops come before arrivals in an instant)
            self._flush(t)
        job = self._job(payload)
        if job is None:
            return ()
        self._stop(t, job)
        self._end(t, job, SUCCEEDED)
        tr = job.tier
        self.completed_by_tier[tr] = self.completed_by_tier[tr] + 1
        grid = self.grid
        sb = self._bucket(job)
        if sb < 0:
            if self.queued:
                self.pass_pending = True
            return ()
        k = tr * grid.size + sb
        jct = t - job.submit
        self._jct_n[k] = self._jct_n[k] + 1
        self._jct_s[k] = self._jct_s[k] + jct
        self._jct_h[tr][sb // grid.coarse].add(jct)
        if self.queued:
            self.pass_pending = True
        return ()

    def _interrupt(self, t: float, job: _Job) -> None:
        ran = self._stop(t, job)
        done = job.kept + ran
        cp = self.checkpoint_s
        kept = max(math.floor(done / cp) * cp, job.kept) if cp else 0.0
        self.lost_by_tier[job.tier] += (done - kept) * job.gpus
        job.kept = kept

    def _fail(self, t: float, payload: tuple[_Job, int]) -> Iterable[NewEvent]:
        if self._pending is not None:
            self._flush(t)
        job = self._job(payload)
        if job is None:
            return ()
        self._interrupt(t, job)
        job.failures += 1
        self.failures += 1
        if job.failures > self.max_retries:
            self._end(t, job, FAILED)
            due = job.submit + job.dur
            sb = self._bucket(job)
            if job.tier == _INTERNAL and self.horizon_end is None and due > t and sb >= 0:
                self.late.append((due, job.gpus, job.submit))
                if len(self.late) > 1024 and len(self.late) & (len(self.late) - 1) == 0:
                    self.late = [x for x in self.late if x[0] > t]
        else:
            self._enqueue(t, job)
        if self.queued:
            self.pass_pending = True
        return ()

    def _preempt(self, t: float, job: _Job) -> None:
        self._interrupt(t, job)
        self.preempted_by_tier[job.tier] += 1
        self.preemptions += 1
        self._enqueue(t, job)

    def _cancel_rest(self, t: float) -> None:
        """At the end: running jobs stop, queued ones leave the queue (censored waits)."""
        if self._pending is not None:
            self._flush(t)
        grid = self.grid
        sched = self.sched
        requests = sched.running_jobs() + sched.queued_jobs()
        for job in sorted((cast(_Job, r.tag) for r in requests), key=lambda j: j.i):
            if job.status == RUNNING:
                ran = t - job.run_start
                g = job.gpus
                self.gpu_s[job.series] += g * ran
                cut = self.fixed_cut
                if cut is not None and t > cut:
                    self.gpu_s_after_cut[job.series] += g * (t - max(job.run_start, cut))
                grid.change(job.series, t, -g)
                self.allocated -= g
            else:
                self.queued -= 1
                sb = self._bucket(job)
                if job.first != job.first and sb >= 0:  # never started: a censored wait
                    tr, k = job.tier, job.tier * grid.size + sb
                    self._queue_n[k] += 1
                    self._queue_s[k] += t - job.submit
                    self._queue_h[tr][sb // grid.coarse].add(t - job.submit)
                    grid.sums["never_n"][sb] += 1
                if job.tier == _INTERNAL and sb >= 0:
                    grid.sums["iwait_gs"][job.gtype * grid.size + sb] += (t - job.qsince) * (
                        job.gpus
                    )
                    if job.first != job.first:
                        self._wheel(sb, t - job.submit, never=True)
            self.counts[CANCELLED] += 1
        self.in_flight = 0

    def late_demand_gs(self, end_s: float, cut_s: float) -> float:
        """GPU-seconds to take off the internal demand (jobs submitted from ``cut_s``) for
        failed jobs that were due after the end of the run (their run time is cut there)."""
        return sum(g * (due - end_s) for due, g, s in self.late if due > end_s and s >= cut_s)
