"""Jobs and their lifecycle. Terminal states are final: :func:`transition` refuses to leave them.

Every status change is a conditional ``UPDATE … WHERE status IN (allowed sources)``, so two
processes racing (a cancel against the scheduler starting the job) cannot both win.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from gigawatt.core.errors import Conflict, NotFound
from gigawatt.core.tiers import JobStatus
from gigawatt.store.models import CANCEL_PENDING_SQL, JobModel
from gigawatt.store.pagination import Page, SortKey, paginate
from gigawatt.store.repositories.ids import looks_like_id

Q, S, R, P = JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING, JobStatus.PREEMPTED
OK, FAIL, CANCEL = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED

#: Allowed moves. ``preempted`` is the drain (SIGTERM sent, grace running) before ``queued``.
ALLOWED: Mapping[JobStatus, frozenset[JobStatus]] = {
    Q: frozenset({S, CANCEL}),
    S: frozenset({R, Q, P, FAIL, CANCEL}),
    R: frozenset({P, Q, OK, FAIL, CANCEL}),
    P: frozenset({Q, FAIL, CANCEL}),
    OK: frozenset(),
    FAIL: frozenset(),
    CANCEL: frozenset(),
}


def insert_job(session: Session, row: JobModel) -> JobModel:
    """Insert a new (queued) job."""
    session.add(row)
    session.flush()
    return row


def get_job(session: Session, job_id: str, tenant_id: str | None = None) -> JobModel:
    """The job; :class:`NotFound` if absent or (``tenant_id`` given) another tenant's."""
    row = session.get(JobModel, job_id) if looks_like_id(job_id) else None
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"no job {job_id!r}")
    return row


def list_jobs(
    session: Session,
    tenant_id: str | None = None,
    status: JobStatus | None = None,
    limit: int = 100,
) -> Sequence[JobModel]:
    """Jobs newest first, optionally of one tenant and one status."""
    if tenant_id is not None and not looks_like_id(tenant_id):
        return []
    query = select(JobModel).order_by(JobModel.submitted_at.desc(), JobModel.id).limit(limit)
    if tenant_id is not None:
        query = query.where(JobModel.tenant_id == tenant_id)
    if status is not None:
        query = query.where(JobModel.status == status.value)
    return session.scalars(query).all()


#: Newest first; ``id`` breaks ties so the order is total and stable.
JOB_ORDER = (
    SortKey(JobModel.submitted_at, float, descending=True),
    SortKey(JobModel.id, str, descending=True),
)


def page_jobs(
    session: Session,
    tenant_id: str | None,
    status: JobStatus | None,
    limit: int,
    cursor: str | None = None,
) -> Page[JobModel]:
    """One page of jobs, newest first, optionally of one tenant and one status."""
    if tenant_id is not None and not looks_like_id(tenant_id):
        return Page([], None)
    query = select(JobModel)
    if tenant_id is not None:
        query = query.where(JobModel.tenant_id == tenant_id)
    if status is not None:
        query = query.where(JobModel.status == status.value)
    return paginate(
        session, query, "jobs", JOB_ORDER, lambda r: (r.submitted_at, r.id), limit, cursor
    )


def queued_jobs(session: Session) -> Sequence[JobModel]:
    """Every queued job, in submission order."""
    query = select(JobModel).where(JobModel.status == Q.value).order_by(JobModel.submitted_at)
    return session.scalars(query).all()


def queued_ids(session: Session) -> list[tuple[str, float]]:
    """``(id, submitted_at)`` of every queued job, in the order the database reads them (the
    control loop diffs them against what it knows; one light query through the status index,
    its rows used as they come from the driver: no conversion per row)."""
    conn = session.connection()
    query = f"SELECT id, submitted_at FROM jobs WHERE status = '{Q.value}'"
    return cast(list[tuple[str, float]], list(conn.exec_driver_sql(query).all()))


def queued_ids_rowids(session: Session) -> list[tuple[str, float, int]]:
    """SQLite: :func:`queued_ids` with each job's ``rowid``."""
    conn = session.connection()
    query = f"SELECT id, submitted_at, rowid FROM jobs WHERE status = '{Q.value}'"
    return [(str(i), float(t), int(r)) for i, t, r in conn.exec_driver_sql(query).all()]


def last_rowid(session: Session) -> int | None:
    """SQLite: the highest ``rowid`` of the jobs table (a job inserted later gets a higher
    one; jobs are never deleted), 0 when empty. None on other databases (no such order)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return None
    return int(conn.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM jobs").scalar_one())


def queued_after(session: Session, rowid: int) -> tuple[list[tuple[int, str]], int]:
    """SQLite: ``(rowid, id)`` of the queued jobs inserted after ``rowid`` (in insertion
    order) and the highest ``rowid`` now; reads only the rows inserted since (a range of the
    table's key)."""
    conn = session.connection()
    rows = conn.exec_driver_sql(
        "SELECT rowid, id, status FROM jobs WHERE rowid > ? ORDER BY rowid", (rowid,)
    ).all()
    top = max([rowid, *(int(r) for r, _, _ in rows)])
    return [(int(r), str(i)) for r, i, status in rows if status == Q.value], top


def queued_rowids(session: Session) -> set[int]:
    """SQLite: the ``rowid`` of every queued job, read from the status index alone (its
    entries carry the rowid: no table row is visited)."""
    conn = session.connection()
    query = f"SELECT rowid FROM jobs WHERE status = '{Q.value}'"
    return {int(r) for (r,) in conn.exec_driver_sql(query).all()}


def rowids_of(session: Session, job_ids: Collection[str]) -> dict[str, int]:
    """SQLite: ``{id: rowid}`` of these jobs (one query per 500 ids)."""
    ids = sorted(job_ids)
    out: dict[str, int] = {}
    conn = session.connection()
    for k in range(0, len(ids), 500):
        part = ids[k : k + 500]
        marks = ", ".join("?" * len(part))
        query = f"SELECT id, rowid FROM jobs WHERE id IN ({marks})"
        out.update({str(i): int(r) for i, r in conn.exec_driver_sql(query, tuple(part)).all()})
    return out


def queued_count(session: Session) -> int:
    """How many jobs are queued (counted in the status index alone)."""
    query = select(func.count()).select_from(JobModel).where(JobModel.status == Q.value)
    return int(session.connection().execute(query).scalar_one())


def jobs_by_ids(session: Session, job_ids: Collection[str]) -> list[JobModel]:
    """The jobs among ``job_ids`` (one query per 1,000 ids)."""
    ids = sorted(job_ids)
    out: list[JobModel] = []
    for k in range(0, len(ids), 1_000):
        out.extend(session.scalars(select(JobModel).where(JobModel.id.in_(ids[k : k + 1_000]))))
    return out


def cancel_pending(session: Session) -> list[tuple[str, str]]:
    """``(id, status)`` of the jobs not ended whose cancellation was asked for (read through
    the partial index ``ix_jobs_cancel_pending``: costs what is being cancelled)."""
    conn = session.connection()
    # SQLite's planner, without statistics, would walk the status index instead.
    table = "jobs INDEXED BY ix_jobs_cancel_pending" if conn.dialect.name == "sqlite" else "jobs"
    query = text(f"SELECT id, status FROM {table} WHERE {CANCEL_PENDING_SQL}")
    return [(str(i), str(s)) for i, s in conn.execute(query)]


def count_by_status(session: Session) -> dict[str, int]:
    """``{status: number of jobs}``."""
    rows = session.execute(select(JobModel.status, func.count()).group_by(JobModel.status))
    return {status: int(n) for status, n in rows}


def queued_by_tier(session: Session) -> dict[str, int]:
    """``{tier: queued jobs}``."""
    query = select(JobModel.tier, func.count()).where(JobModel.status == Q.value)
    query = query.group_by(JobModel.tier)
    return {tier: int(n) for tier, n in session.execute(query)}


def transition(
    session: Session,
    job_id: str,
    to: JobStatus,
    now: float,
    only_from: Collection[JobStatus] | None = None,
    **fields: Any,
) -> None:
    """Move ``job_id`` to ``to`` (and set ``fields``) if the lifecycle allows it, and, when
    ``only_from`` is given, only from those states (checked in the same UPDATE, so a concurrent
    move in between is seen).

    :class:`Conflict` when the job is in a terminal state or the move is not allowed,
    :class:`NotFound` when there is no such job.
    """
    sources = sources_of(to)
    if only_from is not None:
        sources = [s for s in sources if JobStatus(s) in only_from]
    values = {"status": to.value, "updated_at": now, **fields}
    result = session.execute(
        update(JobModel)
        .where(JobModel.id == job_id, JobModel.status.in_(sources))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        session.expire_all()
        return
    current = session.scalar(select(JobModel.status).where(JobModel.id == job_id))
    if current is None:
        raise NotFound(f"no job {job_id!r}")
    state = JobStatus(current)
    if state.is_terminal():
        raise Conflict(f"job {job_id} is {state.value}; terminal states are final")
    raise Conflict(f"job {job_id} cannot go from {state.value} to {to.value}")


def sources_of(to: JobStatus) -> list[str]:
    """The states a job may move to ``to`` from (see :data:`ALLOWED`)."""
    return [s.value for s, targets in ALLOWED.items() if to in targets]


def start_many(session: Session, job_ids: Collection[str], now: float) -> dict[str, int]:
    """Move queued jobs to ``starting`` (reason cleared, one more attempt, ``started_at`` set
    if it was not) in one ``UPDATE … RETURNING`` per 1,000 ids; returns ``{job id: its new
    attempt number}`` for those moved. A job missing from the answer left the queue
    meanwhile (cancelled): the caller gives its GPUs back. No ORM object is expired."""
    ids = sorted(job_ids)
    out: dict[str, int] = {}
    conn = session.connection()
    for k in range(0, len(ids), 1_000):
        query = (
            update(JobModel)
            .where(JobModel.id.in_(ids[k : k + 1_000]), JobModel.status.in_(sources_of(S)))
            .values(
                status=S.value,
                updated_at=now,
                reason="",
                attempts=JobModel.attempts + 1,
                started_at=func.coalesce(JobModel.started_at, now),
            )
            .returning(JobModel.id, JobModel.attempts)
        )
        out.update({str(i): int(n) for i, n in conn.execute(query)})
    return out


def move_many(
    session: Session,
    to: JobStatus,
    moves: Collection[tuple[str, str | None, float | None]],
    now: float,
) -> int:
    """Move jobs to ``to`` where the lifecycle allows it, in one statement executed for many
    rows: each move is ``(job id, reason, ended_at)``; the reason is written unless every
    move's is None, ``ended_at`` only for a terminal ``to``. Returns how many jobs moved
    (:func:`transition` would have refused the others). No ORM object is expired."""
    if not moves:
        return 0
    values: dict[str, Any] = {"status": to.value, "updated_at": now}
    with_reason = any(r is not None for _, r, _ in moves)
    if with_reason:
        values["reason"] = bindparam("b_reason")
    if to.is_terminal():
        values["ended_at"] = bindparam("b_ended")
    query = (
        update(JobModel)
        # no IN (…): an expanding list cannot run for many rows
        .where(
            JobModel.id == bindparam("b_id"), or_(*(JobModel.status == v for v in sources_of(to)))
        )
        .values(**values)
    )
    params: list[dict[str, Any]] = []
    for job_id, reason, ended_at in moves:
        param: dict[str, Any] = {"b_id": job_id}
        if with_reason:
            param["b_reason"] = reason or ""
        if to.is_terminal():
            param["b_ended"] = ended_at
        params.append(param)
    return int(session.connection().execute(query, params).rowcount)


def request_cancel(session: Session, job_id: str, now: float) -> None:
    """Flag a non-terminal job for cancellation (the control loop stops it)."""
    session.execute(
        update(JobModel)
        .where(JobModel.id == job_id)
        .values(cancel_requested=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def set_fields(session: Session, job_id: str, **values: Any) -> None:
    """Set columns of a job other than its status (use :func:`transition` for that)."""
    if "status" in values:
        raise ValueError("use transition() to change a job's status")
    session.execute(
        update(JobModel)
        .where(JobModel.id == job_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
