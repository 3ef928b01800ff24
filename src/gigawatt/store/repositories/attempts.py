"""Attempts (one run of a job on an allocation) and the GPU allocation rows they hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
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
    """Record that these attempts were seen alive at ``now`` (one UPDATE per :data:`CHUNK`)."""
    ids = list(attempt_ids)
    for k in range(0, len(ids), CHUNK):
        session.execute(
            update(AttemptModel)
            .where(AttemptModel.id.in_(ids[k : k + CHUNK]), AttemptModel.status.in_(ACTIVE))
            .values(last_heartbeat_at=now)
            .execution_options(synchronize_session=False)
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
