"""The twin: drives the live :class:`~gigawatt.scheduling.scheduler.Scheduler` on virtual time.

Every scheduling decision comes from the scheduler the control plane uses; the twin only plays
the world around it: jobs arrive (trace or generator), run for their duration, fail at the
injected rate, and are stopped when preempted. Differences from the live server, by design:

- zero preemption grace: a victim is released at once, requeued with its original submission
  time, and the pass is repeated so that the preemptor starts at the same instant;
- the run-time estimate a job gives the scheduler (``max_runtime_s``) is its remaining trace
  duration (an oracle, as published simulators use for SJF and backfill);
- all events at one instant are handled before one scheduling pass (the engine's
  end-of-instant hook: the pass runs as an event of the lowest priority would).
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import FleetSpec
from gigawatt.scheduling.model import Decision, JobRequest, Start
from gigawatt.sim.engine import Engine, NewEvent, Stream
from gigawatt.sim.workload import TIERS, Restart, Workload

# Event kinds (index into the handler table) and priorities (lower runs first at one instant).
# ``Final`` literals: the compiled streaming twin (mypyc) inlines them instead of looking each
# one up in its module's globals on every use.
ARRIVE: Final = 0
FINISH: Final = 1
FAIL: Final = 2
_P_STOP: Final = 0
_P_ARRIVE: Final = 1
# Job states (ints in the hot path; mapped to JobStatus in the results).
PENDING: Final = 0
QUEUED: Final = 1
RUNNING: Final = 2
SUCCEEDED: Final = 3
FAILED: Final = 4
CANCELLED: Final = 5
REJECTED: Final = 6
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, REJECTED})
_EPOCH = 0xFFFF


class SchedulerLike(Protocol):
    """What the twin calls on the scheduler (the live one, or a recording wrapper of it)."""

    def submit(self, job: JobRequest) -> None: ...
    def offer(self, job: JobRequest, now: float) -> Start | None: ...
    def cancel(self, job_id: str) -> bool: ...
    def release(self, job_id: str) -> None: ...
    def schedule(self, now: float) -> Decision: ...
    def request(self, job_id: str) -> JobRequest | None: ...
    def running_jobs(self) -> list[JobRequest]: ...
    def queued_jobs(self) -> list[JobRequest]: ...


@dataclass(slots=True)
class AllocationLog:
    """Every change of allocated GPUs: when, which job (``i`` took its GPUs, ``~i`` gave them
    back) and, on multi-site fleets, at which site. GPUs, tier and kW follow from the job."""

    t: array[float]
    job: array[int]
    site: array[int]


class Twin:
    """One simulation run over ``workload`` on ``fleet`` with the given ``scheduler``."""

    def __init__(
        self,
        workload: Workload,
        fleet: FleetSpec,
        catalogue: Catalogue,
        scheduler: SchedulerLike,
        seed: int = 0,
        record_attempts: bool = False,
    ) -> None:
        self.workload = workload
        self.fleet = fleet
        self.sched = scheduler
        self.engine = Engine()
        self.rng = random.Random(seed)
        n = len(workload)
        self.n = n
        s = workload.settings
        self.checkpoint_s = s.checkpoint_interval_s if s.restart is Restart.CHECKPOINT else 0.0
        self.fail_rate = 1.0 / (s.mtbf_gpu_hours * 3600.0) if s.mtbf_gpu_hours else 0.0
        self.max_retries = s.max_retries
        # Columns as Python lists: scalar access to numpy arrays is slow in the hot path.
        self.submit_s: list[float] = workload.submit_s.tolist()
        self.duration_s: list[float] = workload.duration_s.tolist()
        self.gpus: list[int] = workload.gpus.tolist()
        self.tier: list[int] = workload.tier.tolist()
        self.tenant: list[int] = workload.tenant.tolist()
        self.gpu_type: list[int] = workload.gpu_type.tolist()
        self.priority: list[int] = workload.priority.tolist()
        self.tenant_names = workload.tenants
        self.type_names = workload.gpu_types
        self.kw_per_gpu = [catalogue.get(g).it_kw_per_gpu for g in workload.gpu_types]
        self.sites = [site.name for site in fleet.sites]
        site_index = {name: k for k, name in enumerate(self.sites)}
        self.node_site = (
            {node.node_id: site_index[node.site] for node in fleet.nodes()}
            if len(fleet.sites) > 1
            else {}
        )
        # Per-job state.
        self.status = [PENDING] * n
        self.attempt = [0] * n
        self.first_start = [math.nan] * n
        self.run_start = [0.0] * n
        self.kept_s = [0.0] * n  # work kept across stops (checkpointed), seconds
        self.end_s = [math.nan] * n
        self.site_of = [0] * n
        self.gpu_s = [0.0] * n
        self.lost_gpu_s = [0.0] * n
        self.wait_s = [0.0] * n
        self.queued_since = [0.0] * n
        self.preempted = [0] * n
        self.failures = [0] * n
        # Totals.
        self.queued = 0
        self.allocated = 0
        self.preemptions = 0
        self.passes = 0
        self.pass_pending = False
        self._release = True
        #: ``(job index, attempt, start, end)`` of every allocation, when asked for (tests).
        self.attempts: list[tuple[int, int, float, float]] | None = [] if record_attempts else None
        self.log = AllocationLog(array("d"), array("q"), array("i"))

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        horizon_s: float | None = None,
        progress: Callable[[float], None] | None = None,
        *,
        release_at_end: bool = True,
    ) -> float:
        """Run to completion (or to ``horizon_s`` after the first submission); returns the end
        time. Jobs still queued or running at the end are cancelled; ``release_at_end=False``
        skips telling the scheduler (when it is thrown away after the run: a gigawatt fleet
        has ~10^5 jobs running at the horizon), the twin's own accounting is the same."""
        self._release = True
        handlers = (self._arrive, self._finish, self._fail)
        until = None if horizon_s is None or not self.n else self.submit_s[0] + horizon_s
        arrivals = Stream(self.submit_s, _P_ARRIVE, ARRIVE)
        end = self.engine.run(
            handlers, until=until, progress=progress, stream=arrivals, instant_end=self._pass
        )
        self._release = release_at_end
        self._cancel_rest(end)
        return end

    def _request(self, i: int, remaining: float) -> JobRequest:
        return JobRequest(
            str(i),
            self.tenant_names[self.tenant[i]],
            TIERS[self.tier[i]],
            self.type_names[self.gpu_type[i]],
            self.gpus[i],
            self.submit_s[i],
            self.priority[i],
            remaining,
        )

    def _enqueue(self, t: float, i: int) -> None:
        remaining = self.duration_s[i] - self.kept_s[i]
        try:
            self.sched.submit(self._request(i, remaining))
        except Unschedulable:
            self.status[i] = REJECTED
            self.end_s[i] = t
            return
        self.status[i] = QUEUED
        self.queued_since[i] = t
        self.queued += 1
        self.pass_pending = True

    def _arrive(self, t: float, i: int) -> None:
        self._enqueue(t, i)

    def _pass(self, t: float) -> Iterable[NewEvent] | None:
        """End of an instant: one scheduling pass if anything changed that may start a job."""
        if not self.pass_pending:
            return None
        out: list[NewEvent] = []
        sched = self.sched
        while True:
            self.passes += 1
            decision = sched.schedule(t)
            for start in decision.starts:
                self._start(t, int(start.job.job_id), start.placement[0][0], out)
            if not decision.preemptions:
                break
            for p in decision.preemptions:
                self._preempt(t, int(p.job_id))
        self.pass_pending = False  # requeued victims were seen by the repeated pass
        return out

    def _start(self, t: float, i: int, node_id: str, out: list[NewEvent]) -> None:
        self.status[i] = RUNNING
        self.queued -= 1
        a = self.attempt[i] + 1
        self.attempt[i] = a
        if self.first_start[i] != self.first_start[i]:
            self.first_start[i] = t
        self.wait_s[i] += t - self.queued_since[i]
        self.run_start[i] = t
        g = self.gpus[i]
        site = self.node_site[node_id] if self.node_site else 0
        self.site_of[i] = site
        log = self.log
        log.t.append(t)
        log.job.append(i)
        if self.node_site:
            log.site.append(site)
        self.allocated += g
        remaining = self.duration_s[i] - self.kept_s[i]
        payload = (i << 16) | (a & _EPOCH)
        if self.fail_rate:
            to_fail = self.rng.expovariate(self.fail_rate * g)
            if to_fail < remaining:
                out.append((t + to_fail, _P_STOP, FAIL, payload))
                return
        out.append((t + remaining, _P_STOP, FINISH, payload))

    def _stop(self, t: float, i: int) -> float:
        """Take job ``i`` off its GPUs at ``t``; returns the seconds it ran this attempt."""
        ran = t - self.run_start[i]
        g = self.gpus[i]
        self.gpu_s[i] += g * ran
        log = self.log
        log.t.append(t)
        log.job.append(~i)
        if self.node_site:
            log.site.append(self.site_of[i])
        self.allocated -= g
        if self._release:
            self.sched.release(str(i))
        if self.attempts is not None:
            self.attempts.append((i, self.attempt[i], self.run_start[i], t))
        return ran

    def _current(self, i: int, payload: int) -> bool:
        return self.status[i] == RUNNING and (self.attempt[i] & _EPOCH) == (payload & _EPOCH)

    def _finish(self, t: float, payload: int) -> Iterable[NewEvent]:
        i = payload >> 16
        if not self._current(i, payload):
            return ()
        self._stop(t, i)
        self.status[i] = SUCCEEDED
        self.end_s[i] = t
        if self.queued:
            self.pass_pending = True
        return ()

    def _interrupt(self, t: float, i: int) -> None:
        """Stop job ``i`` and keep only checkpointed work (all of it lost when restarting)."""
        ran = self._stop(t, i)
        done = self.kept_s[i] + ran
        kept = (
            math.floor(done / self.checkpoint_s) * self.checkpoint_s if self.checkpoint_s else 0.0
        )
        kept = max(kept, self.kept_s[i]) if self.checkpoint_s else 0.0
        self.lost_gpu_s[i] += (done - kept) * self.gpus[i]
        self.kept_s[i] = kept

    def _fail(self, t: float, payload: int) -> Iterable[NewEvent]:
        i = payload >> 16
        if not self._current(i, payload):
            return ()
        self._interrupt(t, i)
        self.failures[i] += 1
        if self.failures[i] > self.max_retries:
            self.status[i] = FAILED
            self.end_s[i] = t
        else:
            self._enqueue(t, i)
        if self.queued:
            self.pass_pending = True
        return ()

    def _preempt(self, t: float, i: int) -> None:
        self._interrupt(t, i)
        self.preempted[i] += 1
        self.preemptions += 1
        self._enqueue(t, i)  # the pass loop runs again at once

    def _cancel_rest(self, t: float) -> None:
        for i in range(self.n):
            state = self.status[i]
            if state == RUNNING:
                self._stop(t, i)
            elif state == QUEUED:
                if self._release:
                    self.sched.cancel(str(i))
                self.queued -= 1
                self.wait_s[i] += t - self.queued_since[i]
            elif state != PENDING:
                continue
            self.status[i] = CANCELLED
            self.end_s[i] = t
