"""Metering and posting inside the transaction that ends or splits an allocation.

Every usage record is written with its ledger transaction and the attempt's new
``metered_until`` in the same database transaction, keyed by idempotency keys that the
database keeps unique: a piece of GPU time is billed exactly once.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy.orm import Session

from gigawatt.billing.credits import Credit, preemption_credit_key, reserved_preemption_credit
from gigawatt.billing.ledger import TenantKind, post_credit, post_usage
from gigawatt.billing.periods import period_bounds, period_of
from gigawatt.core.tiers import Tier
from gigawatt.metering.meter import meter_interval
from gigawatt.metering.records import UsageRecord
from gigawatt.services.platform import Platform
from gigawatt.store.models import AttemptModel, JobModel, TenantModel
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import usage as usage_repo


def _kind(session: Session, tenant_id: str) -> TenantKind:
    tenant = session.get(TenantModel, tenant_id)
    return cast(TenantKind, "internal" if tenant is None else tenant.kind)


def meter(
    platform: Platform,
    session: Session,
    attempt: AttemptModel,
    job: JobModel,
    until: float,
    energy_kwh: float | None = None,
) -> list[UsageRecord]:
    """Bill ``attempt`` from its ``metered_until`` to ``until`` and move the mark there.

    ``energy_kwh`` is the measured energy of this piece (None: catalogue power x time).
    """
    start = attempt.metered_until
    if until <= start:
        return []
    records = meter_interval(
        job.id,
        attempt.attempt,
        job.tenant_id,
        job.gpu_type,
        Tier(job.tier),
        job.gpus,
        start,
        until,
        platform.price_book,
        platform.kw_per_gpu(job.gpu_type),
        energy_kwh=energy_kwh,
    )
    now = platform.clock.now()
    inserted = usage_repo.add_usage(session, records, now)
    kind = _kind(session, job.tenant_id)
    for record in inserted:
        usage_repo.post(session, post_usage(record, kind))
    attempts_repo.update_attempt(session, attempt.id, metered_until=until)
    attempt.metered_until = until
    return inserted


def meter_period_boundaries(
    platform: Platform, session: Session, attempt: AttemptModel, job: JobModel, now: float
) -> None:
    """Bill a running attempt up to the end of every invoice period that has closed."""
    # "<", not "!=": a clock stepping back across a boundary must not meter into the future
    # ("YYYY-MM" strings sort by time).
    while period_of(attempt.metered_until) < period_of(now):
        boundary = period_bounds(period_of(attempt.metered_until))[1]
        meter(platform, session, attempt, job, boundary)


def measured_remainder(
    platform: Platform, session: Session, attempt: AttemptModel, total_kwh: float | None
) -> float | None:
    """Energy of the attempt's last piece: the measured total minus what was already billed."""
    if total_kwh is None:
        return None
    billed = sum(
        r.energy_kwh for r in usage_repo.attempt_usage(session, attempt.job_id, attempt.attempt)
    )
    return max(0.0, total_kwh - billed)


def credit_reserved_preemption(
    platform: Platform,
    session: Session,
    attempt: AttemptModel,
    job: JobModel,
    now: float,
    what: str = "preempted",
) -> None:
    """A reserved attempt that was preempted (or lost its node: ``what``) earns its tenant
    the documented credit (once per attempt)."""
    if job.tier != Tier.RESERVED.value:
        return
    records = usage_repo.attempt_usage(session, job.id, attempt.attempt)
    amount = reserved_preemption_credit(records, platform.price_book)
    if amount <= 0:
        return
    key = preemption_credit_key(job.id, attempt.attempt)
    reason = f"reserved job {job.id} attempt {attempt.attempt} {what}"
    credit = Credit(key, job.tenant_id, Tier.RESERVED, amount, reason, now, period_of(now))
    if usage_repo.add_credit(session, credit, job.id):
        usage_repo.post(
            session, post_credit(job.tenant_id, Tier.RESERVED, amount, reason, now, key)
        )
