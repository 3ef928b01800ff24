"""Usage records, credits and ledger transactions: insert-once by idempotency key.

Inserts check for the key first and the database's UNIQUE constraint backs the check, so a
retried tick, a restarted server or a racing process never writes the same piece twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gigawatt.billing.credits import Credit
from gigawatt.billing.ledger import Transaction
from gigawatt.billing.periods import period_of
from gigawatt.core.tiers import Tier
from gigawatt.metering.records import UsageRecord
from gigawatt.store.inference_models import TokenUsageModel
from gigawatt.store.models import (
    CreditModel,
    LedgerEntryModel,
    LedgerTransactionModel,
    UsageRecordModel,
)
from gigawatt.store.pagination import Scalar, SortKey, after, ordered
from gigawatt.store.repositories.ids import looks_like_id

#: Usage listings: oldest first, ``id`` breaking ties.
GPU_ORDER = (SortKey(UsageRecordModel.start_ts, float), SortKey(UsageRecordModel.id, int))
TOKEN_ORDER = (SortKey(TokenUsageModel.at, float), SortKey(TokenUsageModel.id, int))


def add_usage(session: Session, records: Iterable[UsageRecord], now: float) -> list[UsageRecord]:
    """Insert records whose key is new; returns those inserted."""
    inserted: list[UsageRecord] = []
    for rec in records:
        key = rec.idempotency_key
        exists = session.scalar(
            select(UsageRecordModel.id).where(UsageRecordModel.idempotency_key == key)
        )
        if exists is not None:
            continue
        session.add(
            UsageRecordModel(
                idempotency_key=rec.idempotency_key,
                job_id=rec.job_id,
                attempt=rec.attempt,
                tenant_id=rec.tenant,
                gpu_type=rec.gpu_type,
                tier=rec.tier.value,
                gpus=rec.gpus,
                start_ts=rec.start,
                end_ts=rec.end,
                gpu_seconds=rec.gpu_seconds,
                energy_kwh=rec.energy_kwh,
                amount_usd=rec.amount_usd,
                period=rec.period,
                created_at=now,
            )
        )
        inserted.append(rec)
    session.flush()
    return inserted


def to_record(row: UsageRecordModel) -> UsageRecord:
    """The domain value of a stored record."""
    return UsageRecord(
        idempotency_key=row.idempotency_key,
        job_id=row.job_id,
        attempt=row.attempt,
        tenant=row.tenant_id,
        gpu_type=row.gpu_type,
        tier=Tier(row.tier),
        gpus=row.gpus,
        start=row.start_ts,
        end=row.end_ts,
        gpu_seconds=row.gpu_seconds,
        energy_kwh=row.energy_kwh,
        amount_usd=row.amount_usd,
        period=row.period,
    )


def list_usage(
    session: Session,
    tenant_id: str | None = None,
    job_id: str | None = None,
    period: str | None = None,
    limit: int = 1000,
) -> Sequence[UsageRecordModel]:
    """Usage records, oldest first, filtered by tenant, job and period."""
    if any(v is not None and not looks_like_id(v) for v in (tenant_id, job_id)):
        return []
    query = select(UsageRecordModel).order_by(UsageRecordModel.start_ts, UsageRecordModel.id)
    if tenant_id is not None:
        query = query.where(UsageRecordModel.tenant_id == tenant_id)
    if job_id is not None:
        query = query.where(UsageRecordModel.job_id == job_id)
    if period is not None:
        query = query.where(UsageRecordModel.period == period)
    return session.scalars(query.limit(limit)).all()


def gpu_usage_after(
    session: Session,
    tenant_id: str | None,
    job_id: str | None,
    period: str | None,
    position: Sequence[Scalar] | None,
    limit: int,
) -> Sequence[UsageRecordModel]:
    """Up to ``limit`` usage records after ``position`` (``(start, id)``) in :data:`GPU_ORDER`."""
    if any(v is not None and not looks_like_id(v) for v in (tenant_id, job_id)):
        return []
    query = select(UsageRecordModel)
    if tenant_id is not None:
        query = query.where(UsageRecordModel.tenant_id == tenant_id)
    if job_id is not None:
        query = query.where(UsageRecordModel.job_id == job_id)
    if period is not None:
        query = query.where(UsageRecordModel.period == period)
    if position is not None:
        query = query.where(after(GPU_ORDER, position))
    return session.scalars(ordered(query, GPU_ORDER).limit(limit)).all()


def token_usage_after(
    session: Session,
    tenant_id: str | None,
    period: str | None,
    position: Sequence[Scalar] | None,
    limit: int,
) -> Sequence[TokenUsageModel]:
    """Up to ``limit`` token usage rows after ``position`` (``(at, id)``) in
    :data:`TOKEN_ORDER`."""
    if tenant_id is not None and not looks_like_id(tenant_id):
        return []
    query = select(TokenUsageModel)
    if tenant_id is not None:
        query = query.where(TokenUsageModel.tenant_id == tenant_id)
    if period is not None:
        query = query.where(TokenUsageModel.period == period)
    if position is not None:
        query = query.where(after(TOKEN_ORDER, position))
    return session.scalars(ordered(query, TOKEN_ORDER).limit(limit)).all()


def attempt_usage(session: Session, job_id: str, attempt: int) -> list[UsageRecord]:
    """Every record of one attempt (all periods)."""
    query = select(UsageRecordModel).where(
        UsageRecordModel.job_id == job_id, UsageRecordModel.attempt == attempt
    )
    return [to_record(r) for r in session.scalars(query.order_by(UsageRecordModel.start_ts))]


def add_credit(session: Session, credit: Credit, job_id: str | None) -> bool:
    """Insert a credit once (by key); True when inserted."""
    exists = session.scalar(
        select(CreditModel.id).where(CreditModel.idempotency_key == credit.idempotency_key)
    )
    if exists is not None:
        return False
    session.add(
        CreditModel(
            idempotency_key=credit.idempotency_key,
            tenant_id=credit.tenant,
            job_id=job_id,
            tier=credit.tier.value,
            period=credit.period,
            amount_usd=credit.amount_usd,
            reason=credit.reason,
            at=credit.at,
        )
    )
    session.flush()
    return True


def to_credit(row: CreditModel) -> Credit:
    """The domain value of a stored credit."""
    return Credit(
        idempotency_key=row.idempotency_key,
        tenant=row.tenant_id,
        tier=Tier(row.tier),
        amount_usd=row.amount_usd,
        reason=row.reason,
        at=row.at,
        period=row.period,
    )


@cache
def _ledger_statements(dialect: str) -> tuple[Any, Any]:
    """The ledger writer's two statements, built once per dialect."""
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    head = (
        ins(LedgerTransactionModel)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerTransactionModel.id)
    )
    return head, insert(LedgerEntryModel)


def post(db: Session | Connection, tx: Transaction) -> bool:
    """Write a balanced ledger transaction once (by ``txid``); True when written.

    The one ledger writer, for GPU time and tokens alike, with one idempotency method: an
    insert that does nothing when the ``txid`` exists — the database's unique key decides, so
    concurrent writers never both write — then the entries, in the caller's transaction.
    """
    if isinstance(db, Session):
        db.flush()
    conn = db if isinstance(db, Connection) else db.connection()
    head, entries = _ledger_statements(conn.dialect.name)
    params = {
        "idempotency_key": tx.txid,
        "description": tx.memo,
        "at": tx.at,
        "period": period_of(tx.at),
    }
    found = conn.execute(head, params).first()
    if found is None:
        return False
    rows = [
        {
            "transaction_id": found[0],
            "account": e.account,
            "debit_usd": e.debit,
            "credit_usd": e.credit,
        }
        for e in tx.entries
    ]
    conn.execute(entries, rows)
    return True


def balances(session: Session, prefix: str = "") -> dict[str, Decimal]:
    """Trial balance from the database: ``{account: debits - credits}`` (sums to zero), of the
    accounts whose name starts with ``prefix`` (all by default)."""
    query = select(
        LedgerEntryModel.account,
        func.sum(LedgerEntryModel.debit_usd),
        func.sum(LedgerEntryModel.credit_usd),
    )
    if prefix:
        query = query.where(LedgerEntryModel.account.startswith(prefix, autoescape=True))
    query = query.group_by(LedgerEntryModel.account)
    out: dict[str, Decimal] = {}
    for account, debit, credit in session.execute(query):
        # SUM keeps the column type, so the values come back as Decimal dollars.
        out[account] = Decimal(debit or 0) - Decimal(credit or 0)
    return dict(sorted(out.items()))


def revenue_by_tier(session: Session) -> dict[str, Decimal]:
    """Revenue booked so far per tier (credits to ``revenue:<tier>`` accounts)."""
    return {
        account.split(":", 1)[1]: -balance
        for account, balance in balances(session, "revenue:").items()
    }
