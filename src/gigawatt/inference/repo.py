"""SQL of token metering, limits and counters (SQLite and PostgreSQL, atomic upserts).

Every counter change is a single ``INSERT … ON CONFLICT DO UPDATE`` statement, so concurrent
gateway processes never lose an increment; the request counter's upsert carries the limit in
its ``WHERE`` and says whether it admitted the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gigawatt.billing.ledger import Transaction
from gigawatt.inference.limits import Limits, Subject, Usage
from gigawatt.metering.records import TokenUsage
from gigawatt.store.inference_models import (
    InferenceAlertModel,
    InferenceCounterModel,
    InferenceLimitModel,
    TokenUsageModel,
)
from gigawatt.store.repositories import usage as usage_repo
from gigawatt.store.types import MicroDollars

_C = InferenceCounterModel


def _insert(session: Session, table: Any) -> Any:
    """A dialect-specific INSERT that supports ``on_conflict_*``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def read_limits(session: Session, subjects: Sequence[Subject]) -> dict[Subject, Limits]:
    """Limits set for any of ``subjects`` (those without a row are absent)."""
    if not subjects:
        return {}
    query = select(InferenceLimitModel).where(
        tuple_(InferenceLimitModel.scope, InferenceLimitModel.subject).in_(
            [(s.scope, s.id) for s in subjects]
        )
    )
    return {
        Subject(row.scope, row.subject): _limits(row)  # type: ignore[arg-type]
        for row in session.scalars(query)
    }


def _limits(row: InferenceLimitModel) -> Limits:
    period = row.budget_period if row.budget_period in ("day", "week") else "month"
    return Limits(
        row.budget_usd,
        row.requests_per_minute,
        row.tokens_per_minute,
        period,  # type: ignore[arg-type]
        row.soft_budget_usd,
        row.max_concurrent,
    )


def write_limits(session: Session, subject: Subject, limits: Limits, now: float) -> None:
    """Set (replace) the limits of ``subject``."""
    values = {
        "budget_usd": limits.budget_usd,
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "budget_period": None if limits.budget_period == "month" else limits.budget_period,
        "soft_budget_usd": limits.soft_budget_usd,
        "max_concurrent": limits.max_concurrent,
        "updated_at": now,
    }
    stmt = _insert(session, InferenceLimitModel).values(
        scope=subject.scope, subject=subject.id, **values
    )
    stmt = stmt.on_conflict_do_update(index_elements=["scope", "subject"], set_=values)
    session.execute(stmt)


def list_limits(session: Session) -> list[tuple[Subject, Limits]]:
    """Every subject with limits."""
    rows = session.scalars(
        select(InferenceLimitModel).order_by(InferenceLimitModel.scope, InferenceLimitModel.subject)
    )
    return [
        (
            Subject(row.scope, row.subject),  # type: ignore[arg-type]
            _limits(row),
        )
        for row in rows
    ]


def read_usage(db: Db, windows: Mapping[Subject, str], minute: str) -> dict[Subject, Usage]:
    """Spend in each subject's budget window and tokens in ``minute`` (zero when no row)."""
    keys = [(s.scope, s.id, w) for s, window in windows.items() for w in (window, minute)]
    query = select(_C.scope, _C.subject, _C.bucket, _C.tokens, _C.spend_usd).where(
        tuple_(_C.scope, _C.subject, _C.bucket).in_(keys)
    )
    spend: dict[Subject, Decimal] = {}
    tokens: dict[Subject, int] = {}
    for scope, subject_id, bucket, n_tokens, spent in _conn(db).execute(query):
        subject = Subject("tenant" if scope == "tenant" else "key", subject_id)
        if bucket == windows.get(subject):
            spend[subject] = Decimal(spent or 0)
        if bucket == minute:
            tokens[subject] = int(n_tokens or 0)
    return {s: Usage(spend.get(s, Decimal(0)), tokens.get(s, 0)) for s in windows}


def insert_alert(db: Db, subject: Subject, kind: str, bucket: str, at: float, message: str) -> bool:
    """Record an alert event once per (subject, kind, window); True when it is new."""
    conn = _conn(db)
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        ins(InferenceAlertModel)
        .values(
            scope=subject.scope,
            subject=subject.id,
            kind=kind,
            bucket=bucket,
            at=at,
            message=message,
        )
        .on_conflict_do_nothing(index_elements=["scope", "subject", "kind", "bucket"])
        .returning(InferenceAlertModel.id)
    )
    return conn.execute(stmt).first() is not None


def list_alerts(
    session: Session, subjects: Sequence[Subject] | None, limit: int = 1000
) -> Sequence[InferenceAlertModel]:
    """Alert events, newest first (of ``subjects``; None: all)."""
    query = select(InferenceAlertModel).order_by(
        InferenceAlertModel.at.desc(), InferenceAlertModel.id.desc()
    )
    if subjects is not None:
        query = query.where(
            tuple_(InferenceAlertModel.scope, InferenceAlertModel.subject).in_(
                [(s.scope, s.id) for s in subjects]
            )
        )
    return session.scalars(query.limit(limit)).all()


@cache
def _statements(dialect: str) -> dict[str, Any]:
    """The hot statements, built once per dialect (bound at execution: compiled once)."""
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    keys = ["scope", "subject", "bucket"]
    admit = ins(_C).on_conflict_do_update(
        index_elements=keys,
        set_={"requests": _C.requests + 1},
        where=_C.requests < bindparam("limit"),
    )
    add = ins(_C)
    add = add.on_conflict_do_update(
        index_elements=keys,
        set_={
            "tokens": _C.tokens + add.excluded.tokens,
            "spend_usd": _C.spend_usd + add.excluded.spend_usd,
        },
    )
    reserve = ins(_C)
    reserve = reserve.on_conflict_do_update(
        index_elements=keys,
        set_={"spend_usd": _C.spend_usd + reserve.excluded.spend_usd},
        where=_C.spend_usd + reserve.excluded.spend_usd
        <= bindparam("budget", type_=MicroDollars()),
    )
    usage = ins(TokenUsageModel).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return {
        "admit": admit.returning(_C.requests),
        "reserve": reserve.returning(_C.spend_usd),
        "add": add,
        "usage": usage.returning(TokenUsageModel.id),
    }


Db = Session | Connection


def _conn(db: Db) -> Connection:
    """The connection of a session (or the connection itself)."""
    return db if isinstance(db, Connection) else db.connection()


def _stmt(conn: Connection, name: str) -> Any:
    return _statements(conn.dialect.name)[name]


def admit_request(db: Db, subject: Subject, minute: str, limit: int) -> bool:
    """Count one request in ``minute`` unless ``limit`` is reached; True when counted."""
    if limit <= 0:
        return False
    params = {
        "scope": subject.scope,
        "subject": subject.id,
        "bucket": minute,
        "requests": 1,
        "tokens": 0,
        "spend_usd": Decimal(0),
        "limit": limit,
    }
    conn = _conn(db)
    return conn.execute(_stmt(conn, "admit"), params).first() is not None


def reserve_spend(db: Db, subject: Subject, window: str, amount: Decimal, budget: Decimal) -> bool:
    """Add ``amount`` to the subject's spend in ``window`` unless that passes ``budget``, in
    one atomic statement (a row lock on PostgreSQL, the write lock on SQLite); True when added.
    """
    if amount > budget:
        return False
    params = {
        "scope": subject.scope,
        "subject": subject.id,
        "bucket": window,
        "requests": 0,
        "tokens": 0,
        "spend_usd": amount,
        "budget": budget,
    }
    conn = _conn(db)
    return conn.execute(_stmt(conn, "reserve"), params).first() is not None


def insert_usage(
    db: Db, usage: TokenUsage, status: str, reason: str, upstream: str | None = None
) -> bool:
    """Insert one request's usage unless its idempotency key exists; True when inserted."""
    params = {
        "idempotency_key": usage.idempotency_key,
        "tenant_id": usage.tenant,
        "key_id": usage.key_id,
        "model": usage.model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "amount_usd": usage.amount_usd,
        "status": status,
        "reason": reason,
        "upstream": upstream,
        "at": usage.at,
        "period": usage.period,
        "invoice_id": None,
    }
    conn = _conn(db)
    return conn.execute(_stmt(conn, "usage"), params).first() is not None


CounterKey = tuple[Subject, str]


def add_to_counters(db: Db, deltas: dict[CounterKey, tuple[int, Decimal]]) -> None:
    """Add ``(tokens, spend)`` to each ``(subject, window)`` counter (deltas may be negative:
    a settled reservation)."""
    rows = [
        {
            "scope": subject.scope,
            "subject": subject.id,
            "bucket": window,
            "requests": 0,
            "tokens": tokens,
            "spend_usd": spend,
        }
        for (subject, window), (tokens, spend) in deltas.items()
        if tokens or spend
    ]
    if rows:
        conn = _conn(db)
        conn.execute(_stmt(conn, "add"), rows)


def post_ledger(db: Db, tx: Transaction) -> bool:
    """Write the request's ledger transaction once, with the control plane's one ledger
    writer (:func:`gigawatt.store.repositories.usage.post`); True when written."""
    return usage_repo.post(_conn(db), tx)


def prune_minute_counters(session: Session, before_minute: int) -> int:
    """Delete per-minute counters of windows before ``before_minute``; returns how many.

    Window names have a fixed width (8 digits until the year 2160), so text order is time order.
    """
    result = session.execute(
        delete(_C).where(_C.bucket.like("m%"), _C.bucket < f"m{before_minute}")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def list_token_usage(
    session: Session,
    tenant_id: str | None = None,
    period: str | None = None,
    limit: int = 1000,
) -> Sequence[TokenUsageModel]:
    """Token usage records, oldest first, filtered by tenant and period."""
    query = select(TokenUsageModel).order_by(TokenUsageModel.at, TokenUsageModel.id)
    if tenant_id is not None:
        query = query.where(TokenUsageModel.tenant_id == tenant_id)
    if period is not None:
        query = query.where(TokenUsageModel.period == period)
    return session.scalars(query.limit(limit)).all()


def to_token_usage(row: TokenUsageModel) -> TokenUsage:
    """The billing value of a stored record."""
    return TokenUsage(
        idempotency_key=row.idempotency_key,
        tenant=row.tenant_id,
        key_id=row.key_id,
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        amount_usd=row.amount_usd,
        at=row.at,
        period=row.period,
    )


def uninvoiced_token_usage(session: Session, period: str) -> Sequence[TokenUsageModel]:
    """Token usage of ``period`` not yet on an invoice."""
    query = select(TokenUsageModel).where(
        TokenUsageModel.period == period, TokenUsageModel.invoice_id.is_(None)
    )
    return session.scalars(query.order_by(TokenUsageModel.id)).all()
