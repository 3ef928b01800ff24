"""Usage records and their ledger postings written in batches: a few statements per tick.

The control loop ends some tens of attempts per tick; writing each one's records and ledger
transaction row by row costs several statements apiece. Here the records of a whole tick go in
with one read of the keys already present, one multi-row insert of the new records, one
insert of the transaction heads (``ON CONFLICT DO NOTHING``, returning the ids written) and one
of their entries — in the caller's transaction, with the same idempotency keys and the same
UNIQUE constraints as the row-by-row writers of :mod:`gigawatt.store.repositories.usage`, so a
piece of GPU time is still billed exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from gigawatt.billing.ledger import Transaction
from gigawatt.billing.periods import period_of
from gigawatt.metering.records import UsageRecord
from gigawatt.store.models import LedgerEntryModel, LedgerTransactionModel, UsageRecordModel

#: Keys per ``IN (…)`` list (well under SQLite's variable limit).
CHUNK = 1_000


def new_usage(conn: Connection, records: Sequence[UsageRecord]) -> list[UsageRecord]:
    """The records among ``records`` whose key is not stored yet (nor repeated earlier in
    ``records``), in order: one read per :data:`CHUNK` keys."""
    keys = [r.idempotency_key for r in records]
    seen: set[str] = set()
    for k in range(0, len(keys), CHUNK):
        query = select(UsageRecordModel.idempotency_key).where(
            UsageRecordModel.idempotency_key.in_(keys[k : k + CHUNK])
        )
        seen.update(str(key) for key in conn.execute(query).scalars())
    out: list[UsageRecord] = []
    for record in records:
        if record.idempotency_key not in seen:
            seen.add(record.idempotency_key)
            out.append(record)
    return out


def insert_usage(conn: Connection, records: Sequence[UsageRecord], now: float) -> None:
    """Insert ``records`` (keys known to be new: see :func:`new_usage`) in one statement."""
    if not records:
        return
    rows = [
        {
            "idempotency_key": r.idempotency_key,
            "job_id": r.job_id,
            "attempt": r.attempt,
            "tenant_id": r.tenant,
            "gpu_type": r.gpu_type,
            "tier": r.tier.value,
            "gpus": r.gpus,
            "start_ts": r.start,
            "end_ts": r.end,
            "gpu_seconds": r.gpu_seconds,
            "energy_kwh": r.energy_kwh,
            "amount_usd": r.amount_usd,
            "period": r.period,
            "invoice_id": None,
            "created_at": now,
        }
        for r in records
    ]
    conn.execute(insert(UsageRecordModel), rows)


@cache
def _head(dialect: str) -> Any:
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        ins(LedgerTransactionModel)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerTransactionModel.id, LedgerTransactionModel.idempotency_key)
    )


def post_many(conn: Connection, transactions: Sequence[Transaction]) -> int:
    """Write balanced ledger transactions once each (by ``txid``); how many were written.

    The heads go in one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (a ``txid``
    already stored is skipped, as :func:`~gigawatt.store.repositories.usage.post` skips it),
    then the entries of those written in one more statement.
    """
    if not transactions:
        return 0
    heads = [
        {
            "idempotency_key": tx.txid,
            "description": tx.memo,
            "at": tx.at,
            "period": period_of(tx.at),
        }
        for tx in transactions
    ]
    written = {str(key): int(tx_id) for tx_id, key in conn.execute(_head(conn.dialect.name), heads)}
    rows = [
        {
            "transaction_id": written[tx.txid],
            "account": e.account,
            "debit_usd": e.debit,
            "credit_usd": e.credit,
        }
        for tx in transactions
        if tx.txid in written
        for e in tx.entries
    ]
    if rows:
        conn.execute(insert(LedgerEntryModel), rows)
    return len(written)


def billed_energy(
    conn: Connection, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], float]:
    """Energy already billed per ``(job_id, attempt)`` among ``keys`` (one grouped read per
    :data:`CHUNK` jobs; attempts with nothing billed are absent)."""
    wanted = set(keys)
    jobs = sorted({job_id for job_id, _ in wanted})
    out: dict[tuple[str, int], float] = {}
    for k in range(0, len(jobs), CHUNK):
        query = (
            select(
                UsageRecordModel.job_id,
                UsageRecordModel.attempt,
                func.sum(UsageRecordModel.energy_kwh),
            )
            .where(UsageRecordModel.job_id.in_(jobs[k : k + CHUNK]))
            .group_by(UsageRecordModel.job_id, UsageRecordModel.attempt)
        )
        for job_id, attempt, energy in conn.execute(query):
            key = (str(job_id), int(attempt))
            if key in wanted:
                out[key] = float(energy or 0.0)
    return out
