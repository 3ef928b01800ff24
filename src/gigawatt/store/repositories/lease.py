"""The control lease: which server process runs the control loop.

Every tick starts by locking the singleton ``control_lease`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the database write lock), so ticks of
different processes never interleave. The holder renews the lease each tick; another process
takes it over when it has expired or when its holder is known to be dead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gigawatt.store.models import ControlLeaseModel


@dataclass(frozen=True, slots=True)
class LeaseState:
    """Outcome of :func:`acquire`."""

    held: bool
    #: True when this call took the lease from another (or no) holder: reconcile first.
    taken_over: bool
    previous_holder: str | None


def acquire(
    session: Session,
    holder: str,
    now: float,
    ttl_s: float,
    holder_is_dead: Callable[[str], bool] = lambda _h: False,
) -> LeaseState:
    """Lock the lease row and take or renew the lease for ``holder`` if it is free."""
    row = session.scalar(
        select(ControlLeaseModel).where(ControlLeaseModel.id == 1).with_for_update()
    )
    if row is None:  # schema without the seed row (should not happen after migrations)
        row = ControlLeaseModel(id=1, holder=None, expires_at=0.0)
        session.add(row)
        session.flush()
    previous = row.holder
    if previous == holder:
        row.expires_at = now + ttl_s
        return LeaseState(True, False, previous)
    if previous is None or row.expires_at <= now or holder_is_dead(previous):
        row.holder = holder
        row.expires_at = now + ttl_s
        return LeaseState(True, True, previous)
    return LeaseState(False, False, previous)


def give_up(session: Session, holder: str) -> None:
    """Release the lease if ``holder`` has it (clean shutdown)."""
    session.execute(
        update(ControlLeaseModel)
        .where(ControlLeaseModel.id == 1, ControlLeaseModel.holder == holder)
        .values(holder=None, expires_at=0.0)
        .execution_options(synchronize_session=False)
    )


def lock(session: Session) -> None:
    """Serialise with the control loop's tick without taking the lease (invoice close)."""
    session.execute(select(ControlLeaseModel.id).where(ControlLeaseModel.id == 1).with_for_update())
