"""The control loop: one tick polls, stops, bills and schedules, under the control lease.

A tick (see docs/operations.md):

1. lock the ``control_lease`` row and take or renew the lease; a process without it does
   nothing (it only serves the API). On taking the lease over, reconcile (adopt or end) and
   build the loop's memory (:class:`~gigawatt.services.live_state.LiveState`: one
   :class:`~gigawatt.scheduling.scheduler.Scheduler` with the running allocations and the
   queue) from the database. It is kept across ticks and rebuilt only on a takeover, a fleet
   or policy (reservations) change, or after a tick that failed.
2. observe what changed: SIGKILL attempts whose grace period is over; ask the backend which
   attempts ended (``Backend.poll_many``) and, for those, bill and release (one transaction
   with the state change); stop attempts whose job was cancelled or passed ``max_runtime_s``;
   bill attempts that crossed the end of an invoice period; heartbeat a bounded batch of
   attempts. Rows are read only for the attempts concerned, in one query per kind of change.
3. read the ids of the queued jobs, submit the new ones to the scheduler and drop those that
   left the queue (cancelled); run an (incremental) pass and write the starts (``starting``
   + allocation rows, whose primary key forbids double allocation) and the preemptions.
4. commit (the launch intent: the attempt is ``starting``, and the backend can find it
   again by job id and attempt number); then SIGTERM what must stop, launch what starts,
   and record each launched attempt as ``running`` with its backend handle.

``settings.crash_point`` (tests only) SIGKILLs this process at one named point of the tick
(:data:`CRASH_POINTS`), so that restart safety can be tested where it is hardest.

Before the lease, every ``settings.fleet_refresh_s`` (and at once after an attempt lost its
node), the fleet is re-read from the backend when it discovers its nodes (Ray; see
``services/discovery.py``), so every process — leader or not — sees the same fleet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gigawatt.backends.base import Handle
from gigawatt.core.errors import Conflict, Unschedulable
from gigawatt.core.tiers import JobStatus
from gigawatt.scheduling.model import SchedulingPolicy
from gigawatt.services.accounting import meter_period_boundaries
from gigawatt.services.discovery import FleetRefresher
from gigawatt.services.ending import Ending, finish_many, real_end, with_real_start
from gigawatt.services.jobs import job_request
from gigawatt.services.launching import Launcher, Work
from gigawatt.services.lease_holder import holder_is_dead, new_holder
from gigawatt.services.lifecycle import (
    CANCEL,
    MAX_RUNTIME,
    NODE_LOST,
    PREEMPT,
    handle_of,
    outcome_of,
    request_stop,
)
from gigawatt.services.live_state import (
    KILL,
    PERIOD,
    RUNTIME,
    LiveState,
    restore_attempt,
    submit_all,
)
from gigawatt.services.loop_memory import GcFreezer
from gigawatt.services.platform import Platform
from gigawatt.services.queue_sync import sync_queue
from gigawatt.services.reconcile import reconcile, recover_unrecorded
from gigawatt.services.tenants import policy_of
from gigawatt.store.db import transaction
from gigawatt.store.models import JobModel
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo
from gigawatt.store.repositories import lease as lease_repo

log = logging.getLogger(__name__)

#: Where ``settings.crash_point`` may kill the process: after the tick's changes are made but
#: before they commit; after the launch intent commits, before the backend starts it; after
#: the backend started it, before it is recorded; before SIGTERM goes to what must stop.
CRASH_POINTS = ("tick.before_commit", "launch.before_start", "launch.after_start", "stop.before")


@dataclass
class TickReport:
    """What one tick did (for tests and logs)."""

    leader: bool = False
    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    #: jobs whose attempt ended because its node was lost
    nodes_lost: list[str] = field(default_factory=list)


class ControlLoop:
    """Drives the scheduler and the backend from the database. Call :meth:`tick` repeatedly.

    ``incremental=False`` rebuilds the scheduler from the database every tick (the reference
    the incremental loop is tested against; slower on large fleets).
    """

    def __init__(
        self, platform: Platform, holder: str | None = None, *, incremental: bool = True
    ) -> None:
        self.platform = platform
        self.holder = holder or new_holder()
        self.leader = False
        self.incremental = incremental
        self.fleet = FleetRefresher(platform)
        #: the leader's memory between ticks (None: rebuild from the database)
        self.live: LiveState | None = None
        self.launcher = Launcher(platform, self.fleet, self._crash)
        self.gc = GcFreezer()

    def tick(self) -> TickReport:
        """One pass of the loop (see the module docstring)."""
        p = self.platform
        begun = time.perf_counter()
        report, work = TickReport(), Work()
        before = self.live
        self.fleet.refresh()
        now = p.clock.now()
        try:
            with transaction(p.sessions) as s:
                lease = lease_repo.acquire(
                    s, self.holder, now, p.settings.lease_ttl_s, holder_is_dead
                )
                if not lease.held:
                    self.leader, self.live = False, None
                    self.gc.release()
                    p.control_stats.not_leader()
                    return report
                if lease.taken_over or not self.leader:
                    reconcile(p, s)
                    self.live = None
                self.leader = report.leader = True
                policy = policy_of(p, s)
                live = self._state(s, policy, now)
                self._observe(s, live, now, work, report)
                if report.nodes_lost:  # place nothing more on the lost node(s)
                    self.fleet.refresh(force=True)
                    live = self._state(s, policy, now)
                self._sync_queue(s, live, now)
                self._schedule(s, live, now, work, report)
                # renew from the end of the tick: a long one (a takeover on a large fleet)
                # must not leave an expired lease behind for another process to take at once
                lease_repo.acquire(s, self.holder, p.clock.now(), p.settings.lease_ttl_s)
                self._crash("tick.before_commit")
        except BaseException:
            self.live = None  # the database rolled back: rebuild from it next tick
            raise
        if work.terminate:
            self._crash("stop.before")
        for handle in work.terminate:
            self._safely("terminate", handle)
        if work.launch and not self.launcher.launch_all(self.live, work.launch):
            self.live = None  # changed behind our back: rebuild from the database
        if self.live is not None and self.incremental:
            self.gc.after_tick(len(self.live.attempts), self.live is not before)
        queue = len(self.live.queued) if self.live is not None else 0
        p.control_stats.record_tick(time.perf_counter() - begun, queue)
        return report

    def resign(self) -> None:
        """Give the lease back (clean shutdown); running jobs keep running."""
        with transaction(self.platform.sessions) as s:
            lease_repo.give_up(s, self.holder)
        self.leader, self.live = False, None
        self.gc.release()
        self.platform.control_stats.not_leader()

    # -- the loop's memory -------------------------------------------------------------------
    def _state(self, s: Session, policy: SchedulingPolicy, now: float) -> LiveState:
        """The live state, rebuilt from the database when there is none, the fleet or the
        policy changed, or the loop is not incremental."""
        live = self.live
        p = self.platform
        if (
            self.incremental
            and live is not None
            and live.fleet is p.state
            and live.policy == policy
        ):
            return live
        fleet = p.state
        live = LiveState(p.scheduler(policy, fleet), fleet, policy)
        for row in attempts_repo.active_rows(s):
            restore_attempt(live.sched, fleet, row)
            live.add(row)
        self._submit(s, live, jobs_repo.queued_jobs(s), now)
        self.live = live
        return live

    def _submit(self, s: Session, live: LiveState, jobs: Sequence[JobModel], now: float) -> None:
        """Queue ``jobs`` in the scheduler; fail those that can never run (or park them while
        nodes they need are away)."""
        p = self.platform
        for job, message in submit_all(live, jobs):
            if live.fleet.discovered and _fits_known_fleet(p, live.policy, job):
                live.parked.add(job.id)  # waits for nodes that left the fleet to return
                continue
            live.queued.discard(job.id)
            reason = f"unschedulable: {message}"
            jobs_repo.transition(s, job.id, JobStatus.FAILED, now, ended_at=now, reason=reason)

    def _sync_queue(self, s: Session, live: LiveState, now: float) -> None:
        """Bring the scheduler's queue in line with the queued jobs in the database: new ones
        (submitted, requeued) are queued, those gone (cancelled) dropped (see
        :mod:`~gigawatt.services.queue_sync`)."""
        sync_queue(s, live, lambda jobs: self._submit(s, live, jobs, now))

    # -- step 2 ----------------------------------------------------------------------------
    def _observe(
        self, s: Session, live: LiveState, now: float, work: Work, report: TickReport
    ) -> None:
        p = self.platform
        if live.unrecorded:  # launches that never got recorded: fence them, adopt what ran
            self._recover(s, live)
        due = live.due(now)
        for attempt_id in due[KILL]:
            handle = live.attempts[attempt_id].handle
            if handle is not None:
                self._safely("kill", handle)
            live.killed(attempt_id)
        if due[KILL]:
            attempts_repo.mark_killed(s, due[KILL])
        ended = p.backend.poll_many(live.handles) if live.handles else {}
        by_id = {live.by_key[k]: status for k, status in ended.items() if k in live.by_key}
        rows = attempts_repo.active_rows_by_ids(s, by_id) if by_id else {}
        endings: list[Ending] = []
        for attempt_id, status in by_id.items():
            row = rows.get(attempt_id)
            handle = live.attempts[attempt_id].handle
            live.drop(attempt_id)
            if row is None or handle is None:  # not active in the database any more
                continue
            energy = self._energy(handle)
            row = with_real_start(row, status, now)
            end = real_end(row, status, now) or now
            outcome = outcome_of(row, row, status)
            endings.append(Ending(row, end, outcome, status.exit_code, energy))
            if outcome.job_status is JobStatus.QUEUED:
                live.requeued.add(row.job_id)
            report.ended.append(row.job_id)
            if status.reason == NODE_LOST:
                report.nodes_lost.append(row.job_id)
        finish_many(p, s, endings)
        cancels = jobs_repo.cancel_pending(s)
        self._stops(s, live, now, due[RUNTIME], [j for j, st in cancels if st != "queued"], work)
        if due[PERIOD]:
            models = attempts_repo.active_by_ids(s, due[PERIOD])
            for attempt_id, (attempt, job) in models.items():
                meter_period_boundaries(p, s, attempt, job, now)
                live.metered(attempt_id, attempt.metered_until)
        attempts_repo.heartbeat(s, live.heartbeat_batch(), now)
        for job_id in [j for j, st in cancels if st == JobStatus.QUEUED.value]:
            with contextlib.suppress(Conflict):
                jobs_repo.transition(
                    s, job_id, JobStatus.CANCELLED, now, ended_at=now, reason="cancelled"
                )
                live.forget_queued(job_id)

    def _recover(self, s: Session, live: LiveState) -> None:
        p = self.platform
        rows = attempts_repo.active_by_ids(s, live.unrecorded)
        for attempt_id in list(live.unrecorded):
            row = rows.get(attempt_id)
            if row is None:
                live.drop(attempt_id)
                continue
            attempt, job = row
            if attempt.handle is not None:  # recorded by now
                live.set_handle(attempt_id, Handle(job.id, attempt.attempt, dict(attempt.handle)))
                continue
            handle = recover_unrecorded(p, s, attempt, job)
            if handle is not None:
                live.set_handle(attempt_id, handle)
            elif not attempts_repo.active_by_ids(s, [attempt_id]):
                live.drop(attempt_id)  # nothing had started: ended unbilled, job requeued
                live.requeued.add(job.id)

    def _stops(
        self,
        s: Session,
        live: LiveState,
        now: float,
        over_time: list[int],
        cancelled: list[str],
        work: Work,
    ) -> None:
        """SIGTERM attempts whose job was cancelled, or that ran past ``max_runtime_s``."""
        stop: dict[int, str] = {}
        for job_id in cancelled:
            attempt_id = live.by_job.get(job_id)
            if attempt_id is not None and live.attempts[attempt_id].stop_reason != CANCEL:
                stop[attempt_id] = CANCEL
        for attempt_id in over_time:
            if attempt_id in live.attempts and attempt_id not in stop:
                stop[attempt_id] = MAX_RUNTIME
        if not stop:
            return
        rows = attempts_repo.active_by_ids(s, stop)
        for attempt_id, reason in stop.items():
            row = rows.get(attempt_id)
            if row is None:
                continue
            attempt, job = row
            if reason == MAX_RUNTIME and (
                attempt.stop_reason is not None
                or job.max_runtime_s is None
                or now < attempt.started_at + job.max_runtime_s
            ):
                if attempt.stop_reason is None and job.max_runtime_s is not None:
                    # billed (and timed) from its launch, a little after it was scheduled
                    live.runtime_at(attempt_id, attempt.started_at + job.max_runtime_s)
                continue
            if request_stop(self.platform, s, attempt, reason, now):
                handle = handle_of(attempt)
                if handle is not None:
                    work.terminate.append(handle)
            live.stopping(attempt_id, attempt.stop_reason, attempt.kill_after)

    def _energy(self, handle: Handle) -> float | None:
        try:
            return self.platform.backend.energy_kwh(handle)
        except Exception:
            log.exception("reading energy of job %s failed", handle.job_id)
            return None

    # -- step 3 ----------------------------------------------------------------------------
    def _schedule(
        self, s: Session, live: LiveState, now: float, work: Work, report: TickReport
    ) -> None:
        p = self.platform
        sched = live.sched
        if live.queued:
            sched.invalidate()  # time moved on: recompute backfill shadows (as a rebuild would)
        decision = sched.schedule(now)
        if decision.preemptions:
            victims = [live.by_job.get(pre.job_id) for pre in decision.preemptions]
            rows = attempts_repo.active_by_ids(s, [v for v in victims if v is not None])
            for pre, attempt_id in zip(decision.preemptions, victims, strict=True):
                row = None if attempt_id is None else rows.get(attempt_id)
                if attempt_id is None or row is None:
                    continue
                victim = row[0]
                if request_stop(p, s, victim, PREEMPT, now, preempting_for=pre.for_job_id):
                    handle = handle_of(victim)
                    if handle is not None:
                        work.terminate.append(handle)
                live.stopping(attempt_id, victim.stop_reason, victim.kill_after)
                reason = (
                    f"preempted for job {pre.for_job_id}; stopping (grace {p.settings.grace_s:g} s)"
                )
                with contextlib.suppress(Conflict):  # already preempted, or being cancelled
                    jobs_repo.transition(s, pre.job_id, JobStatus.PREEMPTED, now, reason=reason)
                report.preempted.append(pre.job_id)
        self.launcher.write_starts(s, live, decision.starts, now, work, report.started)

    def _crash(self, point: str) -> None:
        """SIGKILL this process when ``settings.crash_point`` names ``point`` (tests only)."""
        if self.platform.settings.crash_point == point:
            log.warning("crash point %s reached: killing this process", point)
            os.kill(os.getpid(), signal.SIGKILL)

    def _safely(self, what: str, handle: Handle) -> None:
        try:
            getattr(self.platform.backend, what)(handle)
        except Exception:
            log.exception("%s of job %s attempt %s failed", what, handle.job_id, handle.attempt)


def _fits_known_fleet(platform: Platform, policy: SchedulingPolicy, job: JobModel) -> bool:
    """True when ``job`` fits the fleet of every node seen (some are away now)."""
    try:
        platform.checker(policy).check(job_request(job))
    except Unschedulable:
        return False
    return True
