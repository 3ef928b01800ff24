"""Restart safety: take over the attempts another (or a dead) control loop was running.

For every attempt that holds GPUs:

- recorded as launching (``starting``) but without a backend handle: the backend *fences* it
  by its deterministic handle (:meth:`~gigawatt.backends.base.Backend.find`: nothing of it may
  start from now on) and says what had started. If something had, its handle is recorded and
  the attempt is adopted like any other (never started twice); if nothing had, the attempt
  fails unbilled and the job goes back to ``queued``;
- ``backend.adopt(handle)`` is True: the process still runs; the loop keeps polling it and
  bills it in full when it ends (its GPUs were held all along);
- otherwise the process is gone: the attempt ends with the exit status the backend still
  knows (it finished while we were down), billed up to the end its supervisor recorded, or
  failed as lost, billed up to its last heartbeat; a job being preempted or cancelled ends
  as it would have.

Then the backend sweeps away whatever it still holds for attempts the database does not know
as active (:meth:`~gigawatt.backends.base.Backend.sweep`; Ray: placement groups and actors
of a control plane that died between starting an attempt and recording it).
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.orm import Session

from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.core.errors import Conflict
from gigawatt.core.states import AttemptStatus
from gigawatt.core.tiers import JobStatus
from gigawatt.services.lifecycle import Outcome, finish_attempt, handle_of, outcome_of
from gigawatt.services.platform import Platform
from gigawatt.store.models import AttemptModel, JobModel
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo

log = logging.getLogger(__name__)

LOST_REASON = "lost: the control plane restarted and the job's processes were gone"


def reconcile(platform: Platform, session: Session) -> dict[str, int]:
    """Adopt or end every active attempt; returns counts ``{adopted, ended, requeued}``."""
    counts = {"adopted": 0, "ended": 0, "requeued": 0}
    # Light rows first: ORM rows are loaded only for the attempts that are not simply adopted.
    for row in attempts_repo.active_rows(session):
        handle = None if row.handle is None else Handle(row.job_id, row.attempt, dict(row.handle))
        if handle is not None and _adopt(platform, handle):
            counts["adopted"] += 1
            continue
        loaded = attempts_repo.active_by_ids(session, [row.id]).get(row.id)
        if loaded is None:
            continue
        attempt, job = loaded
        if handle is None:
            found = recover_unrecorded(platform, session, attempt, job)
            if found is None:
                counts["requeued"] += 1
                continue
            if _adopt(platform, found):
                counts["adopted"] += 1
                continue
        _end_lost(platform, session, attempt, job)
        counts["ended"] += 1
    if any(counts.values()):
        log.info("reconciled attempts after takeover: %s", counts)
    sweep_orphans(platform, session)
    return counts


def _adopt(platform: Platform, handle: Handle) -> bool:
    try:
        return platform.backend.adopt(handle)
    except Exception:
        log.exception("adopting job %s attempt %s failed", handle.job_id, handle.attempt)
        return False


def recover_unrecorded(
    platform: Platform, session: Session, attempt: AttemptModel, job: JobModel
) -> Handle | None:
    """An attempt recorded as launching but never as launched: fence it in the backend and
    adopt what of it started (recorded ``running`` with its handle, which is returned), or end
    it unbilled and requeue its job when nothing did (None). When the backend cannot tell,
    nothing changes and None is returned (tried again on the next tick)."""
    ranks = max(1, len(attempt.placement))
    try:
        handle = platform.backend.find(job.id, attempt.attempt, ranks)
    except Exception:
        log.exception("finding job %s attempt %s failed", job.id, attempt.attempt)
        return None
    if handle is None:
        outcome = Outcome(AttemptStatus.FAILED, JobStatus.QUEUED, "never launched; requeued")
        finish_attempt(platform, session, attempt, job, attempt.started_at, outcome)
        return None
    data = dict(handle.data)
    attempts_repo.update_attempt(
        session, attempt.id, status=AttemptStatus.RUNNING.value, handle=data
    )
    attempt.status, attempt.handle = AttemptStatus.RUNNING.value, data
    real_start = data.get("started_at")
    if isinstance(real_start, int | float):  # billed from when its runner started it
        start_at(session, attempt, float(real_start), platform.clock.now())
    if job.status == JobStatus.STARTING.value:
        try:
            jobs_repo.transition(session, job.id, JobStatus.RUNNING, platform.clock.now())
        except Conflict as exc:
            log.warning("job %s: %s", job.id, exc.message)
    log.warning("job %s attempt %s was launched but not recorded: adopted", job.id, attempt.attempt)
    return handle


def start_at(session: Session, attempt: AttemptModel, start: float, now: float) -> None:
    """Bill the attempt from ``start`` (when it really started, clamped between when it was
    scheduled and ``now``) rather than from when it was scheduled, provided nothing of it was
    billed yet. The row in ``session`` is updated too."""
    begin = min(max(start, attempt.started_at), now)
    if begin <= attempt.started_at or attempt.metered_until != attempt.started_at:
        return
    done = session.execute(
        update(AttemptModel)
        .where(
            AttemptModel.id == attempt.id,
            AttemptModel.started_at == attempt.started_at,
            AttemptModel.metered_until == attempt.started_at,
        )
        .values(started_at=begin, metered_until=begin, last_heartbeat_at=begin)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 1:  # type: ignore[attr-defined]
        attempt.started_at = attempt.metered_until = attempt.last_heartbeat_at = begin


def sweep_orphans(platform: Platform, session: Session) -> list[str]:
    """Ask the backend to remove what it runs for attempts not active in the database."""
    keep = attempts_repo.active_keys(session)
    try:
        removed = platform.backend.sweep(keep)
    except Exception:
        log.exception("sweeping orphans from the %s backend failed", platform.backend.name)
        return []
    if removed:
        log.warning("removed %d orphaned attempt(s) from the backend: %s", len(removed), removed)
    return removed


def _end_lost(platform: Platform, session: Session, attempt: AttemptModel, job: JobModel) -> None:
    status: ExitStatus | None = None
    handle = handle_of(attempt)
    if handle is not None:
        try:
            status = platform.backend.poll(handle)
        except Exception:
            log.exception("polling lost job %s attempt %s failed", job.id, attempt.attempt)
    if status is not None and status.signalled and status.reason in ("lost", "killed"):
        status = None
    outcome = outcome_of(attempt, job, status)
    if status is None and outcome.job_status is JobStatus.FAILED and attempt.stop_reason is None:
        outcome = Outcome(AttemptStatus.FAILED, JobStatus.FAILED, LOST_REASON)
    code = None if status is None else status.exit_code
    end = real_span(session, attempt, status, platform.clock.now()) or attempt.last_heartbeat_at
    finish_attempt(platform, session, attempt, job, end, outcome, code)


def real_span(
    session: Session, attempt: AttemptModel, status: ExitStatus | None, now: float
) -> float | None:
    """For an attempt that ended with ``status``: bill it from the start its supervisor
    recorded (when nothing of it was billed yet) and return the end it recorded (see
    :func:`real_end`)."""
    if status is not None and status.started_at is not None:
        start_at(session, attempt, status.started_at, now)
    return real_end(attempt, status, now)


def real_end(attempt: AttemptModel, status: ExitStatus | None, now: float) -> float | None:
    """The end the attempt's supervisor recorded, when it is plausible (after the attempt
    started, not after ``now``); None otherwise."""
    if status is None or status.ended_at is None:
        return None
    if attempt.started_at <= status.ended_at <= now:
        return status.ended_at
    return None
