"""Ending attempts in a batch: what the control loop does for every attempt that ended in a tick.

For the attempts ending together (each an :class:`Ending`: its row, its end, its
:class:`~gigawatt.services.lifecycle.Outcome`), in the caller's transaction and in a number of
statements that does not grow with how many end:

1. the energy already billed, for attempts whose backend measured their energy (one read);
2. usage records from each attempt's ``metered_until`` to its end, and their ledger postings
   (:func:`~gigawatt.services.accounting.meter_many`: one read of the keys, three inserts);
3. the allocation rows deleted (one DELETE);
4. each attempt's final state, end and new ``metered_until`` (one UPDATE run for many rows);
5. each job moved on (one UPDATE run for many rows per target state: terminal, or back to
   ``queued``), only from states the lifecycle allows;
6. the reserved-preemption credit, for the rare reserved attempt preempted or lost.

Everything commits together with the rest of the tick, or not at all: a piece of GPU time is
billed once, by its idempotency key, whatever crashes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from gigawatt.backends.base import ExitStatus
from gigawatt.core.states import AttemptStatus
from gigawatt.core.tiers import JobStatus
from gigawatt.services.accounting import credit_reserved_preemption, meter_many
from gigawatt.services.platform import Platform
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo
from gigawatt.store.repositories import usage_batch
from gigawatt.store.repositories.attempts import ActiveRow

if TYPE_CHECKING:  # lifecycle imports this module
    from gigawatt.services.lifecycle import Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ending:
    """An attempt to end: its row (as read this tick), when it ended, how it counts."""

    row: ActiveRow
    end: float
    outcome: Outcome
    exit_code: int | None = None
    #: the energy the backend measured for the whole attempt (None: catalogue power x time)
    energy_total_kwh: float | None = None


def with_real_start(row: ActiveRow, status: ExitStatus | None, now: float) -> ActiveRow:
    """``row`` billed from the start its supervisor recorded (clamped between when it was
    scheduled and ``now``), provided nothing of it was billed yet (as
    :func:`~gigawatt.services.reconcile.start_at` does for ORM rows)."""
    if status is None or status.started_at is None:
        return row
    begin = min(max(status.started_at, row.started_at), now)
    if begin <= row.started_at or row.metered_until != row.started_at:
        return row
    return replace(row, started_at=begin, metered_until=begin)


def real_end(row: ActiveRow, status: ExitStatus | None, now: float) -> float | None:
    """The end the attempt's supervisor recorded, when plausible (not before the attempt
    started, not after ``now``); None otherwise."""
    if status is None or status.ended_at is None:
        return None
    return status.ended_at if row.started_at <= status.ended_at <= now else None


def finish_many(platform: Platform, session: Session, endings: Sequence[Ending]) -> None:
    """Bill each attempt up to its end, free its GPUs, record its outcome and move its job
    (see the module docstring); in the caller's transaction."""
    if not endings:
        return
    session.flush()  # ORM changes first: the statements below go straight to the connection
    now = platform.clock.now()
    ends = [max(e.end, e.row.metered_until) for e in endings]
    measured = [e for e in endings if e.energy_total_kwh is not None]
    billed = (
        usage_batch.billed_energy(
            session.connection(), [(e.row.job_id, e.row.attempt) for e in measured]
        )
        if measured
        else {}
    )
    pieces: list[tuple[ActiveRow, float, float | None]] = []
    for e, end in zip(endings, ends, strict=True):
        energy = None
        if e.energy_total_kwh is not None:
            done = billed.get((e.row.job_id, e.row.attempt), 0.0)
            energy = max(0.0, e.energy_total_kwh - done)
        pieces.append((e.row, end, energy))
    meter_many(platform, session, pieces)
    attempts_repo.release_many(session, [e.row.id for e in endings])
    attempts_repo.end_attempts(
        session,
        [
            {
                "id": e.row.id,
                "status": e.outcome.attempt_status.value,
                "started_at": e.row.started_at,
                "ended_at": end,
                "exit_code": e.exit_code,
                "reason": e.outcome.reason,
            }
            for e, end in zip(endings, ends, strict=True)
        ],
    )
    moves: dict[JobStatus, list[tuple[str, str | None, float | None]]] = {}
    for e, end in zip(endings, ends, strict=True):
        to = e.outcome.job_status
        moves.setdefault(to, []).append((e.row.job_id, e.outcome.reason, end))
    for to, group in moves.items():
        moved = jobs_repo.move_many(session, to, group, now)
        if moved != len(group):  # a job already left (should not happen): keep the billing
            log.warning("%d of %d job(s) could not move to %s", len(group) - moved, len(group), to)
    for e, end in zip(endings, ends, strict=True):
        if e.outcome.attempt_status is AttemptStatus.PREEMPTED:
            credit_reserved_preemption(platform, session, e.row, end)
        elif e.outcome.node_lost:
            credit_reserved_preemption(platform, session, e.row, end, "lost its node")
