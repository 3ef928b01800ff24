"""Helpers shared by the service tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gigawatt.core.tiers import Tier
from gigawatt.services import auth, jobs, tenants
from gigawatt.services.auth import Principal
from gigawatt.services.platform import Platform
from gigawatt.services.views import JobView
from gigawatt.store.db import transaction
from gigawatt.store.models import AttemptModel, UsageRecordModel


def tenant(platform: Platform, name: str, kind: str = "external") -> Principal:
    """Create a tenant and return it as a caller."""
    view = tenants.create_tenant(platform, name, kind)
    return auth.Principal(False, view.id, view.kind, "k")


def submit(platform: Platform, who: Principal, **fields: Any) -> JobView:
    """Submit a job (defaults: 1 H100, spot, ``true``)."""
    spec: dict[str, Any] = {
        "name": "job",
        "command": ("true",),
        "gpus": 1,
        "gpu_type": "H100",
        "tier": Tier.SPOT,
    }
    spec.update(fields)
    return jobs.submit(platform, who, jobs.JobSpec(**spec))


def status(platform: Platform, job_id: str) -> str:
    """The job's visible status."""
    return jobs.get_job(platform, auth.ADMIN, job_id).status


def assert_billing_invariant(platform: Platform, tolerance_s: float = 1.0) -> int:
    """For every ended attempt, billed GPU-seconds = GPUs x allocated seconds (per attempt).

    Returns how many attempts were checked.
    """
    with transaction(platform.sessions) as s:
        ended = s.scalars(select(AttemptModel).where(AttemptModel.ended_at.is_not(None))).all()
        checked = 0
        for a in ended:
            rows = s.scalars(
                select(UsageRecordModel).where(
                    UsageRecordModel.job_id == a.job_id, UsageRecordModel.attempt == a.attempt
                )
            ).all()
            gpus = sum(int(g) for _, g in a.placement)
            billed = sum(r.gpu_seconds for r in rows)
            allocated = gpus * (float(a.ended_at or 0) - a.started_at)
            assert abs(billed - allocated) <= gpus * tolerance_s, (a.job_id, billed, allocated)
            keys = [r.idempotency_key for r in rows]
            assert len(keys) == len(set(keys))
            checked += 1
    return checked
