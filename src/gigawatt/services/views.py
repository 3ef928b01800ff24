"""Read models returned by the services (plain frozen values the API serialises)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from gigawatt.store.models import AttemptModel, JobModel, UsageRecordModel


@dataclass(frozen=True, slots=True)
class PlacementView:
    """GPUs of one node held by an attempt."""

    node_id: str
    gpus: int
    gpu_indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One run of a job."""

    attempt: int
    status: str
    started_at: float
    ended_at: float | None
    placement: tuple[PlacementView, ...]
    exit_code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class JobView:
    """A job with its attempts."""

    id: str
    tenant_id: str
    name: str
    command: tuple[str, ...]
    env: dict[str, str]
    gpus: int
    gpu_type: str
    tier: str
    priority: int
    max_runtime_s: int | None
    limits: dict[str, int] | None
    status: str
    reason: str
    submitted_at: float
    started_at: float | None
    ended_at: float | None
    cancel_requested: bool
    attempts: tuple[AttemptView, ...]


@dataclass(frozen=True, slots=True)
class UsageView:
    """One usage record."""

    id: int
    job_id: str
    attempt: int
    tenant_id: str
    gpu_type: str
    tier: str
    gpus: int
    start: float
    end: float
    gpu_seconds: float
    energy_kwh: float
    amount_usd: Decimal
    period: str
    invoice_id: str | None


def attempt_view(row: AttemptModel) -> AttemptView:
    """The view of an attempt row."""
    placement = tuple(
        PlacementView(str(node), int(gpus), tuple(int(i) for i in indices))
        for (node, gpus), indices in zip(row.placement, row.gpu_indices, strict=True)
    )
    return AttemptView(
        row.attempt, row.status, row.started_at, row.ended_at, placement, row.exit_code, row.reason
    )


def job_view(row: JobModel, attempts: Sequence[AttemptModel]) -> JobView:
    """The view of a job row and its attempt rows."""
    return JobView(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        command=tuple(row.command),
        env=dict(row.env),
        gpus=row.gpus,
        gpu_type=row.gpu_type,
        tier=row.tier,
        priority=row.priority,
        max_runtime_s=row.max_runtime_s,
        limits=dict(row.limits) if row.limits else None,
        status=row.status,
        reason=row.reason,
        submitted_at=row.submitted_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        cancel_requested=row.cancel_requested,
        attempts=tuple(attempt_view(a) for a in sorted(attempts, key=lambda a: a.attempt)),
    )


def usage_view(row: UsageRecordModel) -> UsageView:
    """The view of a usage record row."""
    return UsageView(
        id=row.id,
        job_id=row.job_id,
        attempt=row.attempt,
        tenant_id=row.tenant_id,
        gpu_type=row.gpu_type,
        tier=row.tier,
        gpus=row.gpus,
        start=row.start_ts,
        end=row.end_ts,
        gpu_seconds=row.gpu_seconds,
        energy_kwh=row.energy_kwh,
        amount_usd=row.amount_usd,
        period=row.period,
        invoice_id=row.invoice_id,
    )
