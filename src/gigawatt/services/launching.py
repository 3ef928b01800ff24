"""Starting attempts: the tick's writes for the scheduler's starts, then the launches.

In the tick's transaction (:meth:`Launcher.write_starts`), for all the pass's starts at once:
one ``UPDATE … RETURNING`` moves the queued jobs to ``starting`` (a job cancelled meanwhile is
not returned, and its GPUs go back to the scheduler), one multi-row insert creates their
attempts and one their allocation rows (whose primary key forbids double allocation). After
the commit (the launch intent), :meth:`Launcher.launch_all` starts each attempt with the
backend, then records the started ones ``running`` with their handles in one more
transaction: the attempts' rows locked, one UPDATE run for many rows, one UPDATE of the jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gigawatt.backends.base import Handle, LaunchSpec
from gigawatt.core.states import AttemptStatus
from gigawatt.core.tiers import JobStatus
from gigawatt.scheduling.model import Start
from gigawatt.services.discovery import FleetRefresher
from gigawatt.services.lifecycle import Outcome, finish_attempt
from gigawatt.services.live_state import LiveState
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.models import JobModel, TenantModel
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo
from gigawatt.store.repositories.attempts import ActiveRow, NewAttempt

log = logging.getLogger(__name__)

#: The job columns a start needs (read without ORM objects).
_JOB_COLUMNS = (
    JobModel.id,
    JobModel.tenant_id,
    JobModel.command,
    JobModel.env,
    JobModel.gpus,
    JobModel.gpu_type,
    JobModel.tier,
    JobModel.priority,
    JobModel.submitted_at,
    JobModel.max_runtime_s,
    JobModel.limits,
)


@dataclass
class Work:
    """What the tick does with the backend after its transaction commits."""

    terminate: list[Handle] = field(default_factory=list)
    launch: list[tuple[int, LaunchSpec]] = field(default_factory=list)


class Launcher:
    """Writes the starts of a pass and launches them (see the module docstring)."""

    def __init__(
        self, platform: Platform, fleet: FleetRefresher, crash: Callable[[str], None]
    ) -> None:
        self.platform = platform
        self.fleet = fleet
        self._crash = crash

    def write_starts(
        self,
        s: Session,
        live: LiveState,
        starts: Sequence[Start],
        now: float,
        work: Work,
        started: list[str],
    ) -> None:
        """Record the pass's ``starts`` (jobs ``starting``, attempts and allocation rows) and
        queue their launches in ``work``; their job ids are appended to ``started``."""
        if not starts:
            return
        sched, fleet = live.sched, live.fleet
        ids = [st.job.job_id for st in starts]
        for job_id in ids:
            live.queued.discard(job_id)
        numbers = jobs_repo.start_many(s, ids, now)
        conn = s.connection()
        jobs = {
            str(row.id): row
            for k in range(0, len(ids), 1_000)
            for row in conn.execute(
                select(*_JOB_COLUMNS).where(JobModel.id.in_(sorted(numbers)[k : k + 1_000]))
            )
        }
        kinds = {str(i): str(k) for i, k in conn.execute(select(TenantModel.id, TenantModel.kind))}
        kept: list[tuple[Start, Any, tuple[tuple[int, ...], ...]]] = []
        for start in starts:
            job_id = start.job.job_id
            job = jobs.get(job_id)
            if job_id not in numbers or job is None:
                sched.release(job_id)  # cancelled meanwhile: give its GPUs back
                continue
            kept.append((start, job, sched.gpu_indices(job_id)))
        new = [
            NewAttempt(
                job_id=str(job.id),
                number=numbers[str(job.id)],
                placement=start.placement,
                gpu_indices=indices,
                sites={node: fleet.nodes[node].site for node, _ in start.placement},
                gpu_type=job.gpu_type,
                tier=job.tier,
            )
            for start, job, indices in kept
        ]
        attempt_ids = attempts_repo.create_attempts(s, new, now)
        for (start, job, indices), attempt_id, a in zip(kept, attempt_ids, new, strict=True):
            live.add(
                ActiveRow(
                    id=attempt_id,
                    job_id=a.job_id,
                    attempt=a.number,
                    placement=[[node, gpus] for node, gpus in start.placement],
                    gpu_indices=[list(ix) for ix in indices],
                    handle=None,
                    started_at=now,
                    metered_until=now,
                    stop_reason=None,
                    kill_after=None,
                    killed=False,
                    preempting_for=None,
                    tenant_id=job.tenant_id,
                    tier=job.tier,
                    gpu_type=job.gpu_type,
                    gpus=job.gpus,
                    submitted_at=job.submitted_at,
                    priority=job.priority,
                    max_runtime_s=job.max_runtime_s,
                )
            )
            spec = LaunchSpec(
                job_id=a.job_id,
                attempt=a.number,
                command=tuple(job.command),
                env=dict(job.env),
                placement=start.placement,
                gpu_indices=indices,
                gpu_type=job.gpu_type,
                max_runtime_s=None if job.max_runtime_s is None else float(job.max_runtime_s),
                tenant_id=job.tenant_id,
                isolate=kinds.get(job.tenant_id) != "internal",
                limits=job.limits,
            )
            work.launch.append((attempt_id, spec))
            started.append(a.job_id)

    def launch_all(self, live: LiveState | None, launches: list[tuple[int, LaunchSpec]]) -> bool:
        """Start each attempt with the backend, then record the started ones as ``running``
        with their handles, and end those that could not start, in one transaction. False
        when the loop's memory no longer matches the database (rebuild it)."""
        p = self.platform
        started: list[tuple[int, LaunchSpec, Handle, float]] = []
        failed: list[tuple[int, LaunchSpec, Outcome]] = []
        for attempt_id, spec in launches:
            self._crash("launch.before_start")
            launched_at = p.clock.now()
            try:
                handle = p.backend.start(spec)
            except Exception as exc:
                failed.append((attempt_id, spec, self._start_failure(spec, exc)))
                continue
            self._crash("launch.after_start")
            started.append((attempt_id, spec, handle, launched_at))
        if not started and not failed:
            return True
        fresh = True
        kill: list[Handle] = []
        with transaction(p.sessions) as s:
            for attempt_id, spec, outcome in failed:
                fresh = self._fail_start(s, live, attempt_id, spec, outcome) and fresh
            recorded, kill, adopted = self._record_starts(s, started)
            fresh = fresh and not adopted
        if live is not None:
            for attempt_id, handle in recorded:
                live.set_handle(attempt_id, handle)
        for handle in kill:
            # Another control loop ended this attempt while we launched it (lease lost):
            # its processes must not run unaccounted for.
            log.warning(
                "job %s attempt %s ended while starting; killing it", handle.job_id, handle.attempt
            )
            try:
                p.backend.kill(handle)
            except Exception:
                log.exception("kill of job %s attempt %s failed", handle.job_id, handle.attempt)
        return fresh and not kill

    def _record_starts(
        self, s: Session, started: list[tuple[int, LaunchSpec, Handle, float]]
    ) -> tuple[list[tuple[int, Handle]], list[Handle], bool]:
        """Record started attempts ``running``, billed from their launch (not from the
        scheduling pass). Returns ``(recorded, to kill, some adopted by another loop)``."""
        if not started:
            return [], [], False
        p = self.platform
        now = p.clock.now()
        states = attempts_repo.lock_starting(s, [a for a, _, _, _ in started])
        recorded: list[tuple[int, Handle]] = []
        kill: list[Handle] = []
        adopted = False
        updates: list[tuple[int, dict[str, Any], float | None]] = []
        running: list[tuple[str, str | None, float | None]] = []
        for attempt_id, spec, handle, launched_at in started:
            state = states.get(attempt_id)
            if state is not None and state[0] == AttemptStatus.STARTING.value:
                scheduled_at, metered_until = state[2], state[3]
                begin: float | None = min(max(launched_at, scheduled_at), now)
                if begin is not None and (begin <= scheduled_at or metered_until != scheduled_at):
                    begin = None  # as scheduled, or something was billed already
                updates.append((attempt_id, dict(handle.data), begin))
                recorded.append((attempt_id, handle))
                running.append((spec.job_id, None, None))
            elif state is not None and state[0] == AttemptStatus.RUNNING.value and state[1]:
                log.warning(
                    "job %s attempt %s was adopted by another loop", spec.job_id, spec.attempt
                )
                adopted = True
            else:
                kill.append(handle)
        attempts_repo.record_running(s, updates)
        moved = jobs_repo.move_many(s, JobStatus.RUNNING, running, now)
        if moved != len(running):
            log.warning("%d started job(s) could not move to running", len(running) - moved)
        return recorded, kill, adopted or bool(kill)

    def _start_failure(self, spec: LaunchSpec, exc: Exception) -> Outcome:
        p = self.platform
        log.warning("starting job %s attempt %s failed: %s", spec.job_id, spec.attempt, exc)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        outcome = Outcome(AttemptStatus.FAILED, JobStatus.FAILED, f"could not start: {message}")
        if p.state.discovered:
            self.fleet.refresh(force=True)
            gone = [node for node, _ in spec.placement if node not in p.nodes]
            if gone:  # its node left the fleet meanwhile: not the job's fault
                why = f"could not start: node {', '.join(gone)} left the fleet; requeued"
                outcome = Outcome(AttemptStatus.FAILED, JobStatus.QUEUED, why)
        return outcome

    def _fail_start(
        self,
        s: Session,
        live: LiveState | None,
        attempt_id: int,
        spec: LaunchSpec,
        outcome: Outcome,
    ) -> bool:
        """End an attempt the backend could not start; False when it changed behind the
        loop's back (rebuild its memory)."""
        p = self.platform
        attempt = attempts_repo.get_attempt(s, attempt_id)
        job = s.get(JobModel, spec.job_id)
        if attempt is not None and job is not None and attempt.status == AttemptStatus.STARTING:
            finish_attempt(p, s, attempt, job, p.clock.now(), outcome)
            if live is not None:
                live.drop(attempt_id)
                if outcome.job_status is JobStatus.QUEUED:
                    live.requeued.add(spec.job_id)  # queued again next tick
            return True
        return False
