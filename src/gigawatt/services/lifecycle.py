"""Ending attempts and asking them to stop: the state changes the control loop makes.

Ending an attempt is one transaction: bill it up to its end, delete its allocation rows, set
the attempt's final state and move the job (to a terminal state, or back to ``queued`` after
a preemption). Stopping is SIGTERM now and SIGKILL at ``kill_after`` (the grace period).

An attempt whose node was lost (the backend reports ``reason="node_lost"``) counts like a
preemption for spot (the job goes back to ``queued``, billed for what it ran); any other tier
fails with reason ``node_lost``, and a reserved attempt earns the reserved-preemption credit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.core.states import AttemptStatus
from gigawatt.core.tiers import JobStatus, Tier
from gigawatt.services.ending import Ending, finish_many
from gigawatt.services.platform import Platform
from gigawatt.store.models import AttemptModel, JobModel
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories.attempts import ActiveRow

log = logging.getLogger(__name__)

#: Why the control plane stopped an attempt (``attempts.stop_reason``).
PREEMPT, CANCEL, MAX_RUNTIME = "preempt", "cancel", "max_runtime"
#: ``ExitStatus.reason`` of an attempt whose node left the cluster (Ray backend).
NODE_LOST = "node_lost"


@dataclass(frozen=True, slots=True)
class Outcome:
    """Final state of an attempt and where its job goes."""

    attempt_status: AttemptStatus
    job_status: JobStatus
    reason: str
    #: the attempt ended because its node was lost (a reserved one earns the credit)
    node_lost: bool = False


class AttemptFacts(Protocol):
    """What an outcome depends on of an attempt (an ORM row or an :class:`ActiveRow`)."""

    @property
    def attempt(self) -> int:
        """The attempt's number."""

    @property
    def stop_reason(self) -> str | None:
        """Why the control plane stopped it (None: it was not stopped)."""

    @property
    def preempting_for(self) -> str | None:
        """The job it was preempted for."""


class JobFacts(Protocol):
    """What an outcome depends on of a job (an ORM row or an :class:`ActiveRow`)."""

    @property
    def tier(self) -> str:
        """The job's tier."""

    @property
    def max_runtime_s(self) -> int | None:
        """Its run-time limit."""


def handle_of(attempt: AttemptModel) -> Handle | None:
    """The backend handle stored on the attempt (None before the backend started it)."""
    if attempt.handle is None:
        return None
    return Handle(attempt.job_id, attempt.attempt, dict(attempt.handle))


def describe(status: ExitStatus) -> str:
    """A one-line reason for a failed exit."""
    what = status.reason or (
        f"killed by signal {-status.exit_code}" if status.signalled else "exited"
    )
    return f"{what} (exit code {status.exit_code})"


def outcome_of(attempt: AttemptFacts, job: JobFacts, status: ExitStatus | None) -> Outcome:
    """How an attempt that ended with ``status`` (None: lost) counts, given why it was stopped."""
    if attempt.stop_reason == CANCEL:
        return Outcome(AttemptStatus.CANCELLED, JobStatus.CANCELLED, "cancelled")
    if attempt.stop_reason == PREEMPT:
        reason = f"preempted for job {attempt.preempting_for} (attempt {attempt.attempt}); requeued"
        return Outcome(AttemptStatus.PREEMPTED, JobStatus.QUEUED, reason)
    if attempt.stop_reason == MAX_RUNTIME:
        return Outcome(
            AttemptStatus.FAILED, JobStatus.FAILED, f"exceeded max_runtime_s={job.max_runtime_s}"
        )
    if status is None:
        return Outcome(AttemptStatus.FAILED, JobStatus.FAILED, "lost")
    if status.reason == NODE_LOST:
        return node_lost_outcome(attempt, job)
    if status.succeeded:
        return Outcome(AttemptStatus.SUCCEEDED, JobStatus.SUCCEEDED, "")
    return Outcome(AttemptStatus.FAILED, JobStatus.FAILED, describe(status))


def node_lost_outcome(attempt: AttemptFacts, job: JobFacts) -> Outcome:
    """A spot job whose node was lost is requeued (billed for what it ran); others fail."""
    if job.tier == Tier.SPOT.value:
        reason = f"{NODE_LOST}: the node of attempt {attempt.attempt} was lost; requeued"
        return Outcome(AttemptStatus.FAILED, JobStatus.QUEUED, reason, node_lost=True)
    reason = f"{NODE_LOST}: the node of attempt {attempt.attempt} was lost"
    return Outcome(AttemptStatus.FAILED, JobStatus.FAILED, reason, node_lost=True)


def finish_attempt(
    platform: Platform,
    session: Session,
    attempt: AttemptModel,
    job: JobModel,
    end: float,
    outcome: Outcome,
    exit_code: int | None = None,
    energy_total_kwh: float | None = None,
) -> None:
    """Bill up to ``end``, free the GPUs, record the outcome (one transaction, the caller's):
    :func:`~gigawatt.services.ending.finish_many` for one attempt given as ORM rows, which
    are expired afterwards (the control loop's ticks end attempts in batches instead)."""
    ending = Ending(ActiveRow.of(attempt, job), end, outcome, exit_code, energy_total_kwh)
    finish_many(platform, session, [ending])
    session.expire_all()


def request_stop(
    platform: Platform,
    session: Session,
    attempt: AttemptModel,
    reason: str,
    now: float,
    preempting_for: str | None = None,
) -> bool:
    """Record why and when an attempt must stop; True when SIGTERM should be sent now.

    A cancel overrides a preemption already under way (the job then ends ``cancelled``); the
    SIGKILL deadline of the first request stands.
    """
    values: dict[str, Any] = {}
    if preempting_for is not None:
        values["preempting_for"] = preempting_for
        attempt.preempting_for = preempting_for
    first = attempt.stop_reason is None
    if first or (reason == CANCEL and attempt.stop_reason == PREEMPT):
        values["stop_reason"] = reason
        attempt.stop_reason = reason
    if first:
        values["stop_requested_at"] = now
        values["kill_after"] = now + platform.settings.grace_s
        attempt.kill_after = now + platform.settings.grace_s
    if values:
        attempts_repo.update_attempt(session, attempt.id, **values)
    return first
