"""Metering and posting inside the transaction that ends or splits an allocation.

Every usage record is written with its ledger transaction and the attempt's new
``metered_until`` in the same database transaction, keyed by idempotency keys that the
database keeps unique: a piece of GPU time is billed exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import select
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
from gigawatt.store.repositories import usage_batch
from gigawatt.store.repositories.attempts import ActiveRow


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


def tenant_kinds(session: Session, tenant_ids: Iterable[str]) -> dict[str, TenantKind]:
    """``{tenant id: kind}`` of these tenants, in one read (an unknown tenant counts as
    internal, as :func:`meter` counts it)."""
    ids = sorted(set(tenant_ids))
    query = select(TenantModel.id, TenantModel.kind).where(TenantModel.id.in_(ids))
    found = {str(i): str(k) for i, k in session.connection().execute(query)}
    external: TenantKind = "external"
    internal: TenantKind = "internal"
    return {t: external if found.get(t) == "external" else internal for t in ids}


def meter_many(
    platform: Platform,
    session: Session,
    pieces: Sequence[tuple[ActiveRow, float, float | None]],
) -> list[UsageRecord]:
    """Bill each ``(attempt, until, energy_kwh)`` from the attempt's ``metered_until`` to
    ``until`` — the batched :func:`meter`: the records of every piece are rated here (pure),
    then written with their ledger postings in a few statements (see
    :mod:`gigawatt.store.repositories.usage_batch`); a record whose key is stored already is
    skipped, with its posting. The caller moves each attempt's ``metered_until``. Returns the
    records written."""
    records: list[UsageRecord] = []
    for row, until, energy in pieces:
        if until <= row.metered_until:
            continue
        records += meter_interval(
            row.job_id,
            row.attempt,
            row.tenant_id,
            row.gpu_type,
            Tier(row.tier),
            row.gpus,
            row.metered_until,
            until,
            platform.price_book,
            platform.kw_per_gpu(row.gpu_type),
            energy_kwh=energy,
        )
    if not records:
        return []
    conn = session.connection()
    fresh = usage_batch.new_usage(conn, records)
    usage_batch.insert_usage(conn, fresh, platform.clock.now())
    kinds = tenant_kinds(session, (r.tenant for r in fresh))
    usage_batch.post_many(conn, [post_usage(r, kinds[r.tenant]) for r in fresh])
    return fresh


def meter_period_boundaries(
    platform: Platform, session: Session, attempt: AttemptModel, job: JobModel, now: float
) -> None:
    """Bill a running attempt up to the end of every invoice period that has closed."""
    # "<", not "!=": a clock stepping back across a boundary must not meter into the future
    # ("YYYY-MM" strings sort by time).
    while period_of(attempt.metered_until) < period_of(now):
        boundary = period_bounds(period_of(attempt.metered_until))[1]
        meter(platform, session, attempt, job, boundary)


def credit_reserved_preemption(
    platform: Platform, session: Session, row: ActiveRow, now: float, what: str = "preempted"
) -> None:
    """A reserved attempt that was preempted (or lost its node: ``what``) earns its tenant
    the documented credit (once per attempt)."""
    if row.tier != Tier.RESERVED.value:
        return
    job_id, number, tenant = row.job_id, row.attempt, row.tenant_id
    records = usage_repo.attempt_usage(session, job_id, number)
    amount = reserved_preemption_credit(records, platform.price_book)
    if amount <= 0:
        return
    key = preemption_credit_key(job_id, number)
    reason = f"reserved job {job_id} attempt {number} {what}"
    credit = Credit(key, tenant, Tier.RESERVED, amount, reason, now, period_of(now))
    if usage_repo.add_credit(session, credit, job_id):
        usage_repo.post(session, post_credit(tenant, Tier.RESERVED, amount, reason, now, key))
