"""Job use cases: submit, read, list, cancel, logs. The control loop does the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gigawatt.core.errors import (
    Conflict,
    Forbidden,
    GigawattError,
    InvalidInput,
    Unschedulable,
)
from gigawatt.core.tiers import JobStatus, Tier
from gigawatt.scheduling.model import JobRequest
from gigawatt.services.auth import Principal
from gigawatt.services.platform import Platform
from gigawatt.services.tenants import reserved_gpus
from gigawatt.services.views import JobView, job_view
from gigawatt.store.db import transaction
from gigawatt.store.models import AttemptModel, JobModel
from gigawatt.store.pagination import Page
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as repo
from gigawatt.store.repositories import tenants as tenants_repo
from gigawatt.store.repositories.ids import new_id


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a client asks to run (validated at the edge; checked against the fleet here)."""

    name: str
    command: tuple[str, ...]
    gpus: int
    gpu_type: str
    tier: Tier
    max_runtime_s: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    #: Per-rank sandbox limits (``memory_mb``, ``pids``, ``cpus``); None: the server's defaults.
    limits: Mapping[str, int] | None = None


def job_request(row: JobModel) -> JobRequest:
    """What the scheduler needs to know about a stored job."""
    return JobRequest(
        job_id=row.id,
        tenant=row.tenant_id,
        tier=Tier(row.tier),
        gpu_type=row.gpu_type,
        gpus=row.gpus,
        submitted_at=row.submitted_at,
        priority=row.priority,
        max_runtime_s=None if row.max_runtime_s is None else float(row.max_runtime_s),
    )


def _scope(principal: Principal) -> str | None:
    return None if principal.is_admin else principal.tenant_id


def submit(platform: Platform, principal: Principal, spec: JobSpec) -> JobView:
    """Queue a job for the caller's tenant, refusing at once what could never run."""
    result = submit_many(platform, [(principal, spec)])[0]
    if isinstance(result, GigawattError):
        raise result
    return result


def submit_many(
    platform: Platform, submissions: Sequence[tuple[Principal, JobSpec]]
) -> list[JobView | GigawattError]:
    """Queue several jobs in one transaction (one multi-row INSERT), each checked as
    :func:`submit` checks it: a refused job gets its error in its slot, the others are queued.

    The fit check runs on the platform's cached checker for the settings' policy (whether a
    job could ever fit depends on the fleet and the external cap, not on reservations); only
    a reserved-tier job reads its tenant's reservation, in the same transaction. An error of
    the database (not a refusal) raises, and nothing of the batch is queued.
    """
    results: list[JobView | GigawattError] = []
    rows: list[dict[str, object]] = []
    with platform.engine.begin() as conn:
        for principal, spec in submissions:
            try:
                view = _checked(platform, conn, principal, spec)
            except GigawattError as exc:
                results.append(exc)
                continue
            results.append(view)
            rows.append(_job_row(view))
        if rows:
            conn.execute(_INSERT_JOB, rows)
    if rows:
        platform.wake.set()
    return results


def _checked(platform: Platform, conn: Connection, principal: Principal, spec: JobSpec) -> JobView:
    """The view of a job about to be queued, or the refusal (:class:`GigawattError`)."""
    if principal.is_admin or principal.tenant_id is None:
        raise Forbidden("jobs belong to tenants: submit with a tenant's API key")
    if spec.tier is Tier.INTERNAL and principal.tenant_kind != "internal":
        raise Forbidden("the internal tier is only for internal tenants")
    refusal = platform.backend.refusal(principal.tenant_kind != "internal")
    if refusal is not None:  # no sandbox on this host for a stranger's code
        raise Forbidden(refusal)
    if spec.gpu_type not in platform.catalogue:
        known = ", ".join(platform.catalogue.names)
        raise Unschedulable(f"unknown GPU type {spec.gpu_type!r}; known types: {known}")
    gpu_type = platform.catalogue.get(spec.gpu_type).name
    tenant_id = principal.tenant_id
    if spec.tier is Tier.RESERVED and reserved_gpus(conn, tenant_id, gpu_type) == 0:
        raise InvalidInput(
            f"this tenant holds no reservation of {gpu_type} GPUs; reserved-tier jobs need "
            "one (ask the operator), or submit on_demand or spot",
            "tier",
        )
    now = platform.clock.now()
    job_id = new_id("job")
    platform.checker(platform.base_policy()).check(
        JobRequest(
            job_id=job_id,
            tenant=tenant_id,
            tier=spec.tier,
            gpu_type=gpu_type,
            gpus=spec.gpus,
            submitted_at=now,
            priority=spec.priority,
            max_runtime_s=None if spec.max_runtime_s is None else float(spec.max_runtime_s),
        )
    )
    return JobView(
        id=job_id,
        tenant_id=tenant_id,
        name=spec.name,
        command=tuple(spec.command),
        env=dict(spec.env),
        gpus=spec.gpus,
        gpu_type=gpu_type,
        tier=spec.tier.value,
        priority=spec.priority,
        max_runtime_s=spec.max_runtime_s,
        limits=dict(spec.limits) if spec.limits else None,
        status=JobStatus.QUEUED.value,
        reason="",
        submitted_at=now,
        started_at=None,
        ended_at=None,
        cancel_requested=False,
        attempts=(),
    )


#: The one statement of a submission (compiled once, cached by SQLAlchemy).
_INSERT_JOB = insert(JobModel)


def _job_row(view: JobView) -> dict[str, object]:
    """The ``jobs`` row of a just-submitted job."""
    return {
        "id": view.id,
        "tenant_id": view.tenant_id,
        "name": view.name,
        "command": list(view.command),
        "env": view.env,
        "gpus": view.gpus,
        "gpu_type": view.gpu_type,
        "tier": view.tier,
        "priority": view.priority,
        "max_runtime_s": view.max_runtime_s,
        "limits": view.limits,
        "status": view.status,
        "reason": view.reason,
        "submitted_at": view.submitted_at,
        "started_at": None,
        "ended_at": None,
        "attempts": 0,
        "cancel_requested": False,
        "updated_at": view.submitted_at,
    }


def _attempts_by_job(session: Session, job_ids: Sequence[str]) -> dict[str, list[AttemptModel]]:
    out: dict[str, list[AttemptModel]] = {j: [] for j in job_ids}
    if job_ids:
        query = select(AttemptModel).where(AttemptModel.job_id.in_(list(job_ids)))
        for a in session.scalars(query):
            out[a.job_id].append(a)
    return out


def get_job(platform: Platform, principal: Principal, job_id: str) -> JobView:
    """One job of the caller (admin: any); another tenant's job is :class:`NotFound`."""
    with transaction(platform.sessions) as s:
        row = repo.get_job(s, job_id, _scope(principal))
        return job_view(row, attempts_repo.attempts_of(s, job_id))


def list_jobs(
    platform: Platform,
    principal: Principal,
    status: JobStatus | None = None,
    tenant_id: str | None = None,
    limit: int = 100,
) -> list[JobView]:
    """The caller's jobs, newest first (admin: all, or one tenant's)."""
    scope = _scope(principal) if not principal.is_admin else tenant_id
    with transaction(platform.sessions) as s:
        if principal.is_admin and tenant_id is not None:
            tenants_repo.get_tenant(s, tenant_id)
        rows = repo.list_jobs(s, scope, status, limit)
        attempts = _attempts_by_job(s, [r.id for r in rows])
        return [job_view(r, attempts[r.id]) for r in rows]


def list_jobs_page(
    platform: Platform,
    principal: Principal,
    status: JobStatus | None = None,
    tenant_id: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[JobView]:
    """One page of the caller's jobs, newest first (admin: all, or one tenant's)."""
    scope = _scope(principal) if not principal.is_admin else tenant_id
    with transaction(platform.sessions) as s:
        if principal.is_admin and tenant_id is not None:
            tenants_repo.get_tenant(s, tenant_id)
        page = repo.page_jobs(s, scope, status, limit, cursor)
        attempts = _attempts_by_job(s, [r.id for r in page.items])
        return page.map(lambda r: job_view(r, attempts[r.id]))


def cancel(platform: Platform, principal: Principal, job_id: str) -> JobView:
    """Cancel a job: a queued one at once, a running one after SIGTERM, grace and SIGKILL."""
    now = platform.clock.now()
    with transaction(platform.sessions) as s:
        row = repo.get_job(s, job_id, _scope(principal))
        status = JobStatus(row.status)
        if status.is_terminal():
            raise Conflict(f"job {job_id} is already {status.value}; terminal states are final")
        try:
            if status is not JobStatus.QUEUED:
                raise Conflict("not queued")
            repo.transition(
                s,
                job_id,
                JobStatus.CANCELLED,
                now,
                only_from=(JobStatus.QUEUED,),
                ended_at=now,
                reason="cancelled",
            )
        except Conflict:  # it started meanwhile: the control loop stops it
            repo.request_cancel(s, job_id, now)
        row = repo.get_job(s, job_id)
        view = job_view(row, attempts_repo.attempts_of(s, job_id))
    platform.wake.set()
    return view


def logs(
    platform: Platform, principal: Principal, job_id: str, attempt: int | None = None
) -> tuple[int | None, str]:
    """``(attempt, captured output)`` of the latest (or a given) attempt of a visible job."""
    with transaction(platform.sessions) as s:
        repo.get_job(s, job_id, _scope(principal))
        numbers = [a.attempt for a in attempts_repo.attempts_of(s, job_id)]
    if attempt is None:
        if not numbers:
            return None, ""
        attempt = numbers[-1]
    elif attempt not in numbers:
        raise InvalidInput(f"job {job_id} has no attempt {attempt}", "attempt")
    return attempt, platform.backend.logs(job_id, attempt)
