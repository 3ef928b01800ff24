"""Deployments: replicas of a ``model_path`` model run as long-running service jobs.

Each replica is a job submitted through the control plane's job service (so the scheduler
places it, it holds GPUs, counts in power caps and is metered as GPU time of the deployment's
tenant). Its command starts Gigawatt's worker on a free port; once the model is loaded the
worker registers its URL with ``POST /v1/deployments/{id}/replicas``, presenting the
deployment's replica token. :func:`reconcile` (run every few seconds) marks replicas whose job
ended as stopped and starts new ones until the deployment has its replica count again; a
deployment whose replicas keep dying before they register is marked ``failed``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from gigawatt.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from gigawatt.core.states import DeploymentStatus, ReplicaStatus
from gigawatt.core.tiers import JobStatus
from gigawatt.inference.registry import load_one
from gigawatt.inference.settings import InferenceDeps, JobControl
from gigawatt.inference.token_accounting import Caller
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import DeploymentModel, ReplicaModel
from gigawatt.store.models import TenantModel
from gigawatt.store.repositories.ids import new_id

#: What :func:`_status` says of a replica job that no longer exists.
MISSING = "missing"
#: Replica job states after which the replica is gone.
TERMINAL = frozenset({*(s.value for s in JobStatus if s.is_terminal()), MISSING})
LIVE = (ReplicaStatus.STARTING.value, ReplicaStatus.READY.value)


class DeploymentSpec(BaseModel):
    """``POST /v1/deployments``; the admin names the tenant the GPU time is billed to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, Field(min_length=1, max_length=128)]
    gpus: Annotated[StrictInt, Field(ge=1, le=1024)] = 1
    gpu_type: Annotated[str, Field(min_length=1, max_length=32)]
    replicas: Annotated[StrictInt, Field(ge=1, le=64)] = 1
    tier: Literal["internal", "reserved", "on_demand", "spot"] = "internal"
    tenant_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    max_batch_size: Annotated[StrictInt, Field(ge=1, le=256)] = 8


class ReplicaAnnouncement(BaseModel):
    """What a replica sends when it is ready: its id and the root URL it serves on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replica_id: Annotated[str, Field(min_length=1, max_length=40)]
    url: Annotated[str, Field(min_length=1, max_length=2048)]

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def _jobs(deps: InferenceDeps) -> JobControl:
    if deps.jobs is None:
        raise Conflict("deployments need the control plane's job service (gigawatt serve)")
    return deps.jobs


def worker_command(
    deps: InferenceDeps, row: DeploymentModel, path: str, replica_id: str, batch: int
) -> list[str]:
    """The command of a replica job: the worker on a free port, registering when ready."""
    return [
        deps.settings.worker_python,
        "-m",
        "gigawatt.inference.worker",
        "--model-path",
        path,
        "--model-id",
        row.model_id,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--register",
        row.register_url,
        "--replica-id",
        replica_id,
        "--max-batch-size",
        str(batch),
    ]


def _submit(deps: InferenceDeps, row: DeploymentModel, path: str, replica_id: str) -> str:
    command = worker_command(deps, row, path, replica_id, row.max_batch_size)
    return _jobs(deps).submit(
        row.tenant_id,
        f"deploy-{row.id[4:12]}-{replica_id[4:10]}",
        command,
        row.gpus,
        row.gpu_type,
        row.tier,
        {"GIGAWATT_REPLICA_TOKEN": row.replica_token},
    )


def _view(row: DeploymentModel, replicas: list[ReplicaModel]) -> dict[str, Any]:
    return {
        "id": row.id,
        "model": row.model_id,
        "tenant_id": row.tenant_id,
        "gpus": row.gpus,
        "gpu_type": row.gpu_type,
        "tier": row.tier,
        "replicas": row.replicas,
        "max_batch_size": row.max_batch_size,
        "status": row.status,
        "reason": row.reason,
        "created_at": row.created_at,
        "replica_states": [
            {"id": r.id, "job_id": r.job_id, "status": r.status, "url": r.url} for r in replicas
        ],
    }


def _replicas(session: Session, deployment_id: str) -> list[ReplicaModel]:
    query = select(ReplicaModel).where(ReplicaModel.deployment_id == deployment_id)
    return list(session.scalars(query.order_by(ReplicaModel.created_at, ReplicaModel.id)))


def _visible(session: Session, caller: Caller, deployment_id: str) -> DeploymentModel:
    row = session.get(DeploymentModel, deployment_id)
    if row is None or (not caller.is_admin and row.tenant_id != caller.tenant_id):
        raise NotFound(f"no deployment {deployment_id!r}")
    return row


def create(
    deps: InferenceDeps, caller: Caller, spec: DeploymentSpec, public_url: str
) -> dict[str, Any]:
    """Create a deployment and submit its replica jobs."""
    if caller.is_admin:
        if spec.tenant_id is None:
            raise InvalidInput("the admin must name the tenant the replicas run for", "tenant_id")
        tenant_id = spec.tenant_id
    elif spec.tenant_id not in (None, caller.tenant_id):
        raise Forbidden("a tenant deploys for itself only")
    else:
        tenant_id = caller.tenant_id or ""
    now = deps.clock.now()
    with transaction(deps.sessions) as s:
        entry = load_one(s, spec.model)
        if s.get(TenantModel, tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id!r}")
    if entry.model_path is None:
        raise InvalidInput(f"model {entry.id} is served by an upstream URL, not deployed", "model")
    dep_id = new_id("dep")
    row = DeploymentModel(
        id=dep_id,
        model_id=entry.id,
        tenant_id=tenant_id,
        gpus=spec.gpus,
        gpu_type=spec.gpu_type,
        tier=spec.tier,
        replicas=spec.replicas,
        status=DeploymentStatus.ACTIVE.value,
        register_url=f"{public_url}/v1/deployments/{dep_id}/replicas",
        replica_token=secrets.token_hex(24),
        failures=0,
        reason="",
        created_at=now,
        max_batch_size=spec.max_batch_size,
    )
    first = new_id("rep")
    job_id = _submit(deps, row, entry.model_path, first)  # a refusal (4xx) leaves nothing behind
    with transaction(deps.sessions) as s:
        s.add(row)
        s.flush()
        s.add(
            ReplicaModel(
                id=first,
                deployment_id=dep_id,
                job_id=job_id,
                url=None,
                status=ReplicaStatus.STARTING.value,
                created_at=now,
                updated_at=now,
            )
        )
        more = [_placeholder(s, row, now) for _ in range(spec.replicas - 1)]
    for rep_id in more:
        _start(deps, dep_id, rep_id)
    with transaction(deps.sessions) as s:
        return _view(row, _replicas(s, dep_id))


def _placeholder(session: Session, row: DeploymentModel, now: float) -> str:
    """Insert a replica row before its job exists, so racing reconcilers count it."""
    rep_id = new_id("rep")
    session.add(
        ReplicaModel(
            id=rep_id,
            deployment_id=row.id,
            job_id=f"pending-{rep_id}",
            url=None,
            status=ReplicaStatus.STARTING.value,
            created_at=now,
            updated_at=now,
        )
    )
    return rep_id


def _start(deps: InferenceDeps, dep_id: str, rep_id: str) -> None:
    """Submit the job of a placeholder replica (a refusal stops the replica, with a reason)."""
    with transaction(deps.sessions) as s:
        row = s.get(DeploymentModel, dep_id)
        if row is None:
            return
        path = load_one(s, row.model_id).model_path or ""
    try:
        job_id = _submit(deps, row, path, rep_id)
    except Exception as exc:
        with transaction(deps.sessions) as s:
            rep = s.get(ReplicaModel, rep_id)
            dep = s.get(DeploymentModel, dep_id)
            if rep is not None:
                rep.status, rep.updated_at = ReplicaStatus.STOPPED.value, deps.clock.now()
            if dep is not None:
                dep.reason = f"replica job refused: {exc}"[:2000]
        return
    with transaction(deps.sessions) as s:
        rep = s.get(ReplicaModel, rep_id)
        if rep is not None:
            rep.job_id, rep.updated_at = job_id, deps.clock.now()


def list_views(deps: InferenceDeps, caller: Caller) -> list[dict[str, Any]]:
    """Deployments of the caller's tenant (admin: all), newest first."""
    with transaction(deps.sessions) as s:
        query = select(DeploymentModel).order_by(DeploymentModel.created_at.desc())
        if not caller.is_admin:
            query = query.where(DeploymentModel.tenant_id == caller.tenant_id)
        return [_view(r, _replicas(s, r.id)) for r in s.scalars(query)]


def get_view(deps: InferenceDeps, caller: Caller, deployment_id: str) -> dict[str, Any]:
    """One deployment with its replicas."""
    with transaction(deps.sessions) as s:
        row = _visible(s, caller, deployment_id)
        return _view(row, _replicas(s, row.id))


def delete(deps: InferenceDeps, caller: Caller, deployment_id: str) -> dict[str, Any]:
    """Stop routing to the deployment and cancel its replica jobs."""
    with transaction(deps.sessions) as s:
        row = _visible(s, caller, deployment_id)
        row.status = DeploymentStatus.DELETED.value
        live = [r for r in _replicas(s, row.id) if r.status in LIVE]
        for r in live:
            r.status, r.updated_at = ReplicaStatus.STOPPED.value, deps.clock.now()
    for r in live:
        if not r.job_id.startswith("pending-"):
            _jobs(deps).cancel(r.job_id)
    return get_view(deps, caller, deployment_id)


def register_replica(
    deps: InferenceDeps, deployment_id: str, token: str, spec: ReplicaAnnouncement
) -> None:
    """Record a ready replica's URL (the token must be its deployment's)."""
    with transaction(deps.sessions) as s:
        row = s.get(DeploymentModel, deployment_id)
        if row is None or not hmac.compare_digest(token.encode(), row.replica_token.encode()):
            raise Unauthorized("unknown deployment or wrong replica token")
        rep = s.get(ReplicaModel, spec.replica_id)
        if rep is None or rep.deployment_id != deployment_id:
            raise NotFound(f"no replica {spec.replica_id!r} in deployment {deployment_id}")
        if row.status != DeploymentStatus.ACTIVE or rep.status == ReplicaStatus.STOPPED:
            raise Conflict(f"replica {spec.replica_id} is no longer wanted")
        rep.url, rep.status, rep.updated_at = spec.url, ReplicaStatus.READY.value, deps.clock.now()


def _status(jobs: JobControl, job_id: str) -> str:
    try:
        return jobs.status(job_id)
    except NotFound:
        return MISSING


def reconcile(deps: InferenceDeps) -> None:
    """Retire replicas whose job ended; start replacements; fail hopeless deployments."""
    if deps.jobs is None:
        return
    with transaction(deps.sessions) as s:
        active = list(
            s.scalars(
                select(DeploymentModel.id).where(
                    DeploymentModel.status == DeploymentStatus.ACTIVE.value
                )
            )
        )
        live = {d: [(r.id, r.job_id) for r in _replicas(s, d) if r.status in LIVE] for d in active}
    ended = {
        rep_id
        for replicas in live.values()
        for rep_id, job_id in replicas
        if not job_id.startswith("pending-") and _status(deps.jobs, job_id) in TERMINAL
    }
    for dep_id in active:
        new: list[str] = []
        cancel: list[str] = []
        with transaction(deps.sessions) as s:
            row = s.get(DeploymentModel, dep_id, with_for_update=True)
            if row is None or row.status != DeploymentStatus.ACTIVE:
                continue
            reps = [r for r in _replicas(s, dep_id) if r.status in LIVE]
            for r in reps:
                if r.id in ended:
                    r.status, r.updated_at = ReplicaStatus.STOPPED.value, deps.clock.now()
                    if r.url is None:
                        row.failures += 1
            alive = [r for r in reps if r.status in LIVE]
            if row.failures >= deps.settings.max_replica_failures:
                row.status = DeploymentStatus.FAILED.value
                row.reason = f"{row.failures} replica jobs ended before their worker was ready"
                for r in alive:
                    r.status, r.updated_at = ReplicaStatus.STOPPED.value, deps.clock.now()
                cancel = [r.job_id for r in alive if not r.job_id.startswith("pending-")]
            else:
                now = deps.clock.now()
                new = [_placeholder(s, row, now) for _ in range(row.replicas - len(alive))]
        for job_id in cancel:
            deps.jobs.cancel(job_id)
        for rep_id in new:
            _start(deps, dep_id, rep_id)
