"""The control loop: one tick polls, stops, bills and schedules, under the control lease.

A tick (see docs/operations.md):

1. lock the ``control_lease`` row and take or renew the lease; a process without it does
   nothing (it only serves the API). On taking the lease over, reconcile (adopt or end).
2. for every attempt holding GPUs: SIGKILL it if its grace period is over; poll it; if it
   ended, bill and release it (one transaction with the state change); otherwise stop it
   when cancelled or past ``max_runtime_s``, bill closed invoice periods, heartbeat.
3. rebuild a :class:`~gigawatt.scheduling.scheduler.Scheduler` from the database (running
   allocations, queued jobs, reservations), run a pass, write the starts (``starting`` +
   allocation rows, whose primary key forbids double allocation) and the preemptions.
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
import socket
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gigawatt.backends.base import Handle, LaunchSpec
from gigawatt.core.errors import Conflict, Unschedulable
from gigawatt.core.states import AttemptStatus
from gigawatt.core.tiers import JobStatus
from gigawatt.scheduling.model import SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.services.accounting import meter_period_boundaries
from gigawatt.services.discovery import FleetRefresher
from gigawatt.services.jobs import job_request
from gigawatt.services.lifecycle import (
    CANCEL,
    MAX_RUNTIME,
    NODE_LOST,
    PREEMPT,
    Outcome,
    finish_attempt,
    handle_of,
    outcome_of,
    request_stop,
)
from gigawatt.services.platform import FleetState, Platform
from gigawatt.services.reconcile import real_end, reconcile, recover_unrecorded
from gigawatt.services.tenants import policy_of
from gigawatt.store.db import transaction
from gigawatt.store.models import AttemptModel, JobModel, TenantModel
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo
from gigawatt.store.repositories import lease as lease_repo

log = logging.getLogger(__name__)

#: Where ``settings.crash_point`` may kill the process: after the tick's changes are made but
#: before they commit; after the launch intent commits, before the backend starts it; after
#: the backend started it, before it is recorded; before SIGTERM goes to what must stop.
CRASH_POINTS = ("tick.before_commit", "launch.before_start", "launch.after_start", "stop.before")


def new_holder() -> str:
    """A lease holder id unique to this loop: ``host|pid|random``."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:12]}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` is a process of this host that no longer exists."""
    host, _, rest = holder.partition("|")
    pid_text = rest.partition("|")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class TickReport:
    """What one tick did (for tests and logs)."""

    leader: bool = False
    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    #: jobs whose attempt ended because its node was lost
    nodes_lost: list[str] = field(default_factory=list)


@dataclass
class _Work:
    terminate: list[Handle] = field(default_factory=list)
    launch: list[tuple[int, LaunchSpec]] = field(default_factory=list)


class ControlLoop:
    """Drives the scheduler and the backend from the database. Call :meth:`tick` repeatedly."""

    def __init__(self, platform: Platform, holder: str | None = None) -> None:
        self.platform = platform
        self.holder = holder or new_holder()
        self.leader = False
        self.fleet = FleetRefresher(platform)

    def tick(self) -> TickReport:
        """One pass of the loop (see the module docstring)."""
        p = self.platform
        report, work = TickReport(), _Work()
        self.fleet.refresh()
        now = p.clock.now()
        with transaction(p.sessions) as s:
            lease = lease_repo.acquire(s, self.holder, now, p.settings.lease_ttl_s, holder_is_dead)
            if not lease.held:
                self.leader = False
                return report
            if lease.taken_over or not self.leader:
                reconcile(p, s)
            self.leader = report.leader = True
            self._observe(s, now, work, report)
            if report.nodes_lost:  # place nothing more on the lost node(s)
                self.fleet.refresh(force=True)
            self._schedule(s, now, work, report)
            self._crash("tick.before_commit")
        if work.terminate:
            self._crash("stop.before")
        for handle in work.terminate:
            self._safely("terminate", handle)
        for attempt_id, spec in work.launch:
            self._launch(attempt_id, spec)
        return report

    def resign(self) -> None:
        """Give the lease back (clean shutdown); running jobs keep running."""
        with transaction(self.platform.sessions) as s:
            lease_repo.give_up(s, self.holder)
        self.leader = False

    # -- step 2 ----------------------------------------------------------------------------
    def _observe(self, s: Session, now: float, work: _Work, report: TickReport) -> None:
        p = self.platform
        alive: list[int] = []
        for attempt, job in attempts_repo.active_attempts(s):
            handle = handle_of(attempt)
            if handle is None:  # a launch that never got recorded: fence it, adopt what ran
                handle = recover_unrecorded(p, s, attempt, job)
                if handle is None:
                    continue
            if attempt.kill_after is not None and now >= attempt.kill_after and not attempt.killed:
                self._safely("kill", handle)
                attempts_repo.update_attempt(s, attempt.id, killed=True)
            try:
                status = p.backend.poll(handle)
            except Exception:
                log.exception("polling job %s attempt %s failed", job.id, attempt.attempt)
                status = None
            if status is not None:
                energy = self._energy(handle)
                code = status.exit_code
                end = real_end(attempt, status, now) or now
                finish_attempt(
                    p, s, attempt, job, end, outcome_of(attempt, job, status), code, energy
                )
                report.ended.append(job.id)
                if status.reason == NODE_LOST:
                    report.nodes_lost.append(job.id)
                continue
            self._maybe_stop(s, attempt, job, now, work)
            meter_period_boundaries(p, s, attempt, job, now)
            alive.append(attempt.id)
        attempts_repo.heartbeat(s, alive, now)
        for job in jobs_repo.queued_jobs(s):
            if job.cancel_requested:
                jobs_repo.transition(
                    s, job.id, JobStatus.CANCELLED, now, ended_at=now, reason="cancelled"
                )

    def _maybe_stop(
        self, s: Session, attempt: AttemptModel, job: JobModel, now: float, work: _Work
    ) -> None:
        reason: str | None = None
        if job.cancel_requested and attempt.stop_reason != CANCEL:
            reason = CANCEL
        elif (
            attempt.stop_reason is None
            and job.max_runtime_s is not None
            and now >= attempt.started_at + job.max_runtime_s
        ):
            reason = MAX_RUNTIME
        if reason is not None and request_stop(self.platform, s, attempt, reason, now):
            handle = handle_of(attempt)
            if handle is not None:
                work.terminate.append(handle)

    def _energy(self, handle: Handle) -> float | None:
        try:
            return self.platform.backend.energy_kwh(handle)
        except Exception:
            log.exception("reading energy of job %s failed", handle.job_id)
            return None

    # -- step 3 ----------------------------------------------------------------------------
    def _schedule(self, s: Session, now: float, work: _Work, report: TickReport) -> None:
        p = self.platform
        fleet = p.state
        policy = policy_of(p, s)
        sched = p.scheduler(policy, fleet)
        running = attempts_repo.active_attempts(s)
        active = {job.id: attempt for attempt, job in running}
        for attempt, job in running:
            _restore(sched, fleet, attempt, job)
        queued = {job.id: job for job in jobs_repo.queued_jobs(s)}
        kinds: dict[str, str] | None = None
        for job in list(queued.values()):
            try:
                sched.submit(job_request(job))
            except Unschedulable as exc:
                if fleet.discovered and _fits_known_fleet(p, policy, job):
                    del queued[job.id]  # waits for nodes that left the fleet to return
                    continue
                reason = f"unschedulable: {exc.message}"
                jobs_repo.transition(s, job.id, JobStatus.FAILED, now, ended_at=now, reason=reason)
        decision = sched.schedule(now)
        for pre in decision.preemptions:
            victim = active.get(pre.job_id)
            if victim is None:
                continue
            if request_stop(p, s, victim, PREEMPT, now, preempting_for=pre.for_job_id):
                handle = handle_of(victim)
                if handle is not None:
                    work.terminate.append(handle)
            reason = (
                f"preempted for job {pre.for_job_id}; stopping (grace {p.settings.grace_s:g} s)"
            )
            with contextlib.suppress(Conflict):  # already preempted, or being cancelled
                jobs_repo.transition(s, pre.job_id, JobStatus.PREEMPTED, now, reason=reason)
            report.preempted.append(pre.job_id)
        for start in decision.starts:
            job = queued[start.job.job_id]
            try:
                jobs_repo.transition(s, job.id, JobStatus.STARTING, now, reason="")
            except Conflict:
                continue  # cancelled meanwhile
            if kinds is None:
                kinds = {
                    str(i): str(k) for i, k in s.execute(select(TenantModel.id, TenantModel.kind))
                }
            indices = sched.gpu_indices(job.id)
            sites = {node: fleet.nodes[node].site for node, _ in start.placement}
            attempt = attempts_repo.create_attempt(s, job, start.placement, indices, sites, now)
            jobs_repo.set_fields(s, job.id, attempts=attempt.attempt)
            if job.started_at is None:
                jobs_repo.set_fields(s, job.id, started_at=now)
            spec = LaunchSpec(
                job_id=job.id,
                attempt=attempt.attempt,
                command=tuple(job.command),
                env=dict(job.env),
                placement=start.placement,
                gpu_indices=indices,
                gpu_type=job.gpu_type,
                max_runtime_s=None if job.max_runtime_s is None else float(job.max_runtime_s),
                tenant_id=job.tenant_id,
                isolate=kinds.get(job.tenant_id) != "internal",
            )
            work.launch.append((attempt.id, spec))
            report.started.append(job.id)

    # -- step 4 ----------------------------------------------------------------------------
    def _launch(self, attempt_id: int, spec: LaunchSpec) -> None:
        p = self.platform
        self._crash("launch.before_start")
        try:
            handle = p.backend.start(spec)
        except Exception as exc:
            log.warning("starting job %s attempt %s failed: %s", spec.job_id, spec.attempt, exc)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            outcome = Outcome(AttemptStatus.FAILED, JobStatus.FAILED, f"could not start: {message}")
            if p.state.discovered:
                self.fleet.refresh(force=True)
                gone = [node for node, _ in spec.placement if node not in p.nodes]
                if gone:  # its node left the fleet meanwhile: not the job's fault
                    why = f"could not start: node {', '.join(gone)} left the fleet; requeued"
                    outcome = Outcome(AttemptStatus.FAILED, JobStatus.QUEUED, why)
            with transaction(p.sessions) as s:
                attempt = attempts_repo.get_attempt(s, attempt_id)
                job = s.get(JobModel, spec.job_id)
                if (
                    attempt is not None
                    and job is not None
                    and attempt.status == AttemptStatus.STARTING
                ):
                    finish_attempt(p, s, attempt, job, p.clock.now(), outcome)
            return
        self._crash("launch.after_start")
        adopted = False
        with transaction(p.sessions) as s:
            recorded = attempts_repo.update_attempt(
                s,
                attempt_id,
                only_if_status=AttemptStatus.STARTING.value,
                status=AttemptStatus.RUNNING.value,
                handle=dict(handle.data),
            )
            if recorded:
                try:
                    jobs_repo.transition(s, spec.job_id, JobStatus.RUNNING, p.clock.now())
                except Conflict as exc:
                    log.warning("job %s: %s", spec.job_id, exc.message)
            else:
                row = attempts_repo.get_attempt(s, attempt_id)
                adopted = (
                    row is not None
                    and row.status == AttemptStatus.RUNNING
                    and row.handle is not None
                )
        if not recorded and adopted:
            log.warning("job %s attempt %s was adopted by another loop", spec.job_id, spec.attempt)
        elif not recorded:
            # Another control loop ended this attempt while we launched it (lease lost):
            # its processes must not run unaccounted for.
            log.warning(
                "job %s attempt %s ended while starting; killing it", spec.job_id, spec.attempt
            )
            self._safely("kill", handle)

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


def _restore(sched: Scheduler, fleet: FleetState, attempt: AttemptModel, job: JobModel) -> None:
    """Put an attempt holding GPUs into the scheduler. GPUs on nodes that left the fleet are
    skipped (the attempt is ending: the backend reports ``node_lost``); those on nodes still
    there stay taken."""
    placement = [(str(n), int(g)) for n, g in attempt.placement]
    indices = attempt.gpu_indices
    keep = [k for k, (node, _) in enumerate(placement) if node in fleet.nodes]
    if not keep:
        log.debug("job %s: every node of its attempt left the fleet", job.id)
        return
    try:
        sched.restore_running(
            job_request(job),
            tuple(placement[k] for k in keep),
            attempt.started_at,
            None if indices is None else [indices[k] for k in keep],
            attempt.preempting_for,
        )
    except (KeyError, ValueError, IndexError):
        log.warning("job %s holds GPUs outside the fleet: %s", job.id, attempt.placement)


def _fits_known_fleet(platform: Platform, policy: SchedulingPolicy, job: JobModel) -> bool:
    """True when ``job`` fits the fleet of every node seen (some are away now)."""
    try:
        platform.checker(policy).check(job_request(job))
    except Unschedulable:
        return False
    return True
