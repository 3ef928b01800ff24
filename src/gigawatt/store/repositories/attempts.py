"""Attempts (one run of a job on an allocation) and the GPU allocation rows they hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from gigawatt.core.states import AttemptStatus
from gigawatt.store.models import AttemptModel, GpuAllocationModel, JobModel

#: Attempt states that hold GPUs.
ACTIVE = (AttemptStatus.STARTING.value, AttemptStatus.RUNNING.value)


def create_attempt(
    session: Session,
    job: JobModel,
    placement: Sequence[tuple[str, int]],
    gpu_indices: Sequence[Sequence[int]],
    sites: dict[str, str],
    now: float,
    number: int | None = None,
) -> AttemptModel:
    """A ``starting`` attempt (number ``number``, default the job's next) plus one allocation
    row per GPU (the PK forbids sharing a GPU)."""
    number = job.attempts + 1 if number is None else number
    row = AttemptModel(
        job_id=job.id,
        attempt=number,
        status=AttemptStatus.STARTING.value,
        placement=[[node, gpus] for node, gpus in placement],
        gpu_indices=[list(ix) for ix in gpu_indices],
        handle=None,
        started_at=now,
        last_heartbeat_at=now,
        metered_until=now,
        killed=False,
        reason="",
    )
    session.add(row)
    session.flush()
    gpus = [
        {
            "node_id": node,
            "gpu_index": int(index),
            "attempt_id": row.id,
            "job_id": job.id,
            "site": sites[node],
            "gpu_type": job.gpu_type,
            "tier": job.tier,
        }
        for (node, _), indices in zip(placement, gpu_indices, strict=True)
        for index in indices
    ]
    session.execute(insert(GpuAllocationModel), gpus)  # one statement, many rows
    return row


def active_attempts(session: Session) -> Sequence[tuple[AttemptModel, JobModel]]:
    """Attempts holding GPUs, with their jobs, oldest first."""
    query = (
        select(AttemptModel, JobModel)
        .join(JobModel, JobModel.id == AttemptModel.job_id)
        .where(AttemptModel.status.in_(ACTIVE))
        .order_by(AttemptModel.id)
    )
    return [(a, j) for a, j in session.execute(query).all()]


#: Ids per ``IN (…)`` list of the batched reads (well under SQLite's variable limit).
CHUNK = 1_000


def active_by_ids(
    session: Session, attempt_ids: Iterable[int]
) -> dict[int, tuple[AttemptModel, JobModel]]:
    """The attempts among ``attempt_ids`` that still hold GPUs, with their jobs, by id (one
    query per :data:`CHUNK` ids: the control loop reads only what changed)."""
    ids = sorted(set(attempt_ids))
    out: dict[int, tuple[AttemptModel, JobModel]] = {}
    for k in range(0, len(ids), CHUNK):
        query = (
            select(AttemptModel, JobModel)
            .join(JobModel, JobModel.id == AttemptModel.job_id)
            .where(AttemptModel.id.in_(ids[k : k + CHUNK]), AttemptModel.status.in_(ACTIVE))
        )
        for attempt, job in session.execute(query).all():
            out[attempt.id] = (attempt, job)
    return out


#: The job columns :class:`ActiveRow` carries (the others are the attempt's).
_JOB_FIELDS = ("tenant_id", "tier", "gpu_type", "gpus", "submitted_at", "priority", "max_runtime_s")


@dataclass(frozen=True, slots=True)
class ActiveRow:
    """An attempt holding GPUs and what the control loop needs of its job, read without ORM
    objects (the loop reads every one of them when it takes the lease over)."""

    id: int
    job_id: str
    attempt: int
    placement: list[Any]
    gpu_indices: list[Any] | None
    handle: dict[str, Any] | None
    started_at: float
    metered_until: float
    stop_reason: str | None
    kill_after: float | None
    killed: bool
    preempting_for: str | None
    tenant_id: str
    tier: str
    gpu_type: str
    gpus: int
    submitted_at: float
    priority: int
    max_runtime_s: int | None

    @classmethod
    def of(cls, a: AttemptModel, j: JobModel) -> ActiveRow:
        """The same from ORM rows (an attempt just created)."""
        return cls(*(getattr(a if model is AttemptModel else j, name) for model, name in _ACTIVE))


#: The columns of :class:`ActiveRow`, in its field order: attempt's, then its job's.
_ACTIVE: tuple[tuple[type[AttemptModel] | type[JobModel], str], ...] = (
    *((AttemptModel, n) for n in ActiveRow.__dataclass_fields__ if n not in _JOB_FIELDS),
    *((JobModel, n) for n in _JOB_FIELDS),
)


def active_rows(session: Session) -> list[ActiveRow]:
    """Every attempt holding GPUs with its job's scheduling fields, oldest first (Core)."""
    columns = [getattr(model, name) for model, name in _ACTIVE]
    query = (
        select(*columns)
        .join(JobModel, JobModel.id == AttemptModel.job_id)
        .where(AttemptModel.status.in_(ACTIVE))
        .order_by(AttemptModel.id)
    )
    return [ActiveRow(*row) for row in session.connection().execute(query)]


def active_rows_by_ids(session: Session, attempt_ids: Iterable[int]) -> dict[int, ActiveRow]:
    """The attempts among ``attempt_ids`` that still hold GPUs, as :class:`ActiveRow` by id
    (Core, no ORM objects; one query per :data:`CHUNK` ids)."""
    ids = sorted(set(attempt_ids))
    columns = [getattr(model, name) for model, name in _ACTIVE]
    out: dict[int, ActiveRow] = {}
    conn = session.connection()
    for k in range(0, len(ids), CHUNK):
        query = (
            select(*columns)
            .join(JobModel, JobModel.id == AttemptModel.job_id)
            .where(AttemptModel.id.in_(ids[k : k + CHUNK]), AttemptModel.status.in_(ACTIVE))
        )
        for values in conn.execute(query):
            row = ActiveRow(*values)
            out[row.id] = row
    return out


@dataclass(frozen=True, slots=True)
class NewAttempt:
    """An attempt to create ``starting`` (see :func:`create_attempts`)."""

    job_id: str
    number: int
    placement: Sequence[tuple[str, int]]
    gpu_indices: Sequence[Sequence[int]]
    sites: dict[str, str]
    gpu_type: str
    tier: str


def create_attempts(session: Session, new: Sequence[NewAttempt], now: float) -> list[int]:
    """Create ``starting`` attempts and their allocation rows in two statements (one
    multi-row insert each); returns the attempts' ids in the order given. The allocation
    rows' primary key forbids sharing a GPU: a conflict fails the whole transaction."""
    if not new:
        return []
    conn = session.connection()
    rows = [
        {
            "job_id": a.job_id,
            "attempt": a.number,
            "status": AttemptStatus.STARTING.value,
            "placement": [[node, gpus] for node, gpus in a.placement],
            "gpu_indices": [list(ix) for ix in a.gpu_indices],
            "handle": None,
            "started_at": now,
            "ended_at": None,
            "last_heartbeat_at": now,
            "metered_until": now,
            "killed": False,
            "reason": "",
        }
        for a in new
    ]
    query = insert(AttemptModel).returning(AttemptModel.id, AttemptModel.job_id)
    ids = {(str(j)): int(i) for i, j in conn.execute(query, rows)}
    gpus = [
        {
            "node_id": node,
            "gpu_index": int(index),
            "attempt_id": ids[a.job_id],
            "job_id": a.job_id,
            "site": a.sites[node],
            "gpu_type": a.gpu_type,
            "tier": a.tier,
        }
        for a in new
        for (node, _), indices in zip(a.placement, a.gpu_indices, strict=True)
        for index in indices
    ]
    conn.execute(insert(GpuAllocationModel), gpus)
    return [ids[a.job_id] for a in new]


def lock_starting(
    session: Session, attempt_ids: Iterable[int]
) -> dict[int, tuple[str, bool, float, float]]:
    """``{id: (status, has a handle, started_at, metered_until)}`` of these attempts, locked
    until the transaction ends (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
    already holds the database), so that recording them cannot race another loop."""
    ids = sorted(set(attempt_ids))
    out: dict[int, tuple[str, bool, float, float]] = {}
    conn = session.connection()
    for k in range(0, len(ids), CHUNK):
        query = (
            select(
                AttemptModel.id,
                AttemptModel.status,
                AttemptModel.handle,
                AttemptModel.started_at,
                AttemptModel.metered_until,
            )
            .where(AttemptModel.id.in_(ids[k : k + CHUNK]))
            .with_for_update()
        )
        for attempt_id, status, handle, started_at, metered_until in conn.execute(query):
            out[int(attempt_id)] = (
                str(status),
                handle is not None,
                float(started_at),
                float(metered_until),
            )
    return out


def record_running(
    session: Session, updates: Sequence[tuple[int, dict[str, Any], float | None]]
) -> int:
    """Record launched attempts ``running`` with their handles: each update is ``(id,
    handle, start)``, ``start`` the time to bill from (also the new ``metered_until`` and
    heartbeat; None: keep the scheduled start). At most two statements, each run for many
    rows; only attempts still ``starting`` change. Returns how many rows changed."""
    changed = 0
    conn = session.connection()
    for moved in (True, False):
        values: dict[str, Any] = {
            "status": AttemptStatus.RUNNING.value,
            "handle": bindparam("b_handle", type_=AttemptModel.handle.type),
        }
        if moved:
            values.update(
                started_at=bindparam("b_start"),
                metered_until=bindparam("b_start"),
                last_heartbeat_at=bindparam("b_start"),
            )
        params = [
            {"b_id": i, "b_handle": h, **({"b_start": t} if moved else {})}
            for i, h, t in updates
            if (t is not None) == moved
        ]
        if not params:
            continue
        query = (
            update(AttemptModel)
            .where(
                AttemptModel.id == bindparam("b_id"),
                AttemptModel.status == AttemptStatus.STARTING.value,
            )
            .values(**values)
        )
        changed += int(conn.execute(query, params).rowcount)
    return changed


def end_attempts(session: Session, ends: Sequence[dict[str, Any]]) -> int:
    """Record attempts' final state in one statement executed for many rows: each of
    ``ends`` has ``id``, ``status``, ``started_at``, ``ended_at`` (also the new
    ``metered_until``), ``exit_code`` and ``reason``. Returns how many rows changed."""
    if not ends:
        return 0
    query = (
        update(AttemptModel)
        .where(AttemptModel.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            started_at=bindparam("b_started"),
            ended_at=bindparam("b_ended"),
            metered_until=bindparam("b_ended"),
            exit_code=bindparam("b_exit"),
            reason=bindparam("b_reason"),
        )
    )
    params = [
        {
            "b_id": e["id"],
            "b_status": e["status"],
            "b_started": e["started_at"],
            "b_ended": e["ended_at"],
            "b_exit": e["exit_code"],
            "b_reason": e["reason"],
        }
        for e in ends
    ]
    return int(session.connection().execute(query, params).rowcount)


def release_many(session: Session, attempt_ids: Sequence[int]) -> int:
    """Delete the allocation rows of these attempts (one DELETE per :data:`CHUNK` ids); how
    many GPUs were freed."""
    ids = list(attempt_ids)
    freed = 0
    for k in range(0, len(ids), CHUNK):
        result = session.connection().execute(
            delete(GpuAllocationModel).where(GpuAllocationModel.attempt_id.in_(ids[k : k + CHUNK]))
        )
        freed += int(result.rowcount)
    return freed


def mark_killed(session: Session, attempt_ids: Sequence[int]) -> None:
    """Record that SIGKILL was sent to these attempts (one UPDATE per :data:`CHUNK` ids)."""
    ids = list(attempt_ids)
    for k in range(0, len(ids), CHUNK):
        session.connection().execute(
            update(AttemptModel).where(AttemptModel.id.in_(ids[k : k + CHUNK])).values(killed=True)
        )


def active_keys(session: Session) -> set[tuple[str, int]]:
    """``(job_id, attempt)`` of every attempt holding GPUs (one light query)."""
    query = select(AttemptModel.job_id, AttemptModel.attempt).where(AttemptModel.status.in_(ACTIVE))
    return {(str(j), int(a)) for j, a in session.connection().execute(query)}


def attempts_of(session: Session, job_id: str) -> Sequence[AttemptModel]:
    """Every attempt of a job, first first."""
    query = select(AttemptModel).where(AttemptModel.job_id == job_id).order_by(AttemptModel.attempt)
    return session.scalars(query).all()


def get_attempt(session: Session, attempt_id: int) -> AttemptModel | None:
    """The attempt row by primary key."""
    return session.get(AttemptModel, attempt_id)


def update_attempt(
    session: Session, attempt_id: int, only_if_status: str | None = None, **values: Any
) -> bool:
    """Set columns of one attempt (only while its status is ``only_if_status``, when given);
    whether a row was changed."""
    query = update(AttemptModel).where(AttemptModel.id == attempt_id)
    if only_if_status is not None:
        query = query.where(AttemptModel.status == only_if_status)
    result = session.execute(query.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def heartbeat(session: Session, attempt_ids: Sequence[int], now: float) -> None:
    """Record that these attempts were seen alive at ``now``: on PostgreSQL one UPDATE with
    the ids as one array parameter (``id = ANY(…)``: no list of bind parameters to parse and
    plan), elsewhere one UPDATE per :data:`CHUNK` ids."""
    ids = list(attempt_ids)
    if not ids:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(
            update(AttemptModel)
            .where(
                AttemptModel.id == any_(bindparam("ids", type_=ARRAY(Integer))),
                AttemptModel.status.in_(ACTIVE),
            )
            .values(last_heartbeat_at=now),
            {"ids": sorted(ids)},
        )
        return
    for k in range(0, len(ids), CHUNK):
        conn.execute(
            update(AttemptModel)
            .where(AttemptModel.id.in_(ids[k : k + CHUNK]), AttemptModel.status.in_(ACTIVE))
            .values(last_heartbeat_at=now)
        )


def release(session: Session, attempt_id: int) -> int:
    """Delete the attempt's allocation rows; returns how many GPUs were freed."""
    result = session.execute(
        delete(GpuAllocationModel)
        .where(GpuAllocationModel.attempt_id == attempt_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def allocations(session: Session) -> Sequence[GpuAllocationModel]:
    """Every allocated GPU."""
    return session.scalars(select(GpuAllocationModel)).all()


def allocation_counts(session: Session) -> Sequence[tuple[str, str, str, int]]:
    """``(site, gpu_type, tier, allocated GPUs)`` groups."""
    query = select(
        GpuAllocationModel.site,
        GpuAllocationModel.gpu_type,
        GpuAllocationModel.tier,
        func.count(),
    ).group_by(GpuAllocationModel.site, GpuAllocationModel.gpu_type, GpuAllocationModel.tier)
    return [(s, g, t, int(n)) for s, g, t, n in session.execute(query)]
