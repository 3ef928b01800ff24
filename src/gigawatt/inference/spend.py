"""Inference spend reports: usage records summed by tenant, key, model and day.

``GET /v1/inference/spend?group_by=tenant,model,day&since=2026-11-01&until=2026-12-01``
(admin: every tenant, or ``tenant_id``'s; a tenant: its own) and ``gigawatt spend``.
Days are UTC; ``since`` is inclusive and ``until`` exclusive.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from gigawatt.inference.token_accounting import Caller
from gigawatt.store.inference_models import TokenUsageModel

Dimension = Literal["tenant", "key", "model", "day"]
DIMENSIONS: tuple[Dimension, ...] = ("tenant", "key", "model", "day")
MAX_ROWS = 10_000
_DAY_S = 86_400
Money = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str)]


class SpendQuery(BaseModel):
    """What to sum and over which days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_by: Annotated[list[Dimension], Field(min_length=1, max_length=4)] = [
        "tenant",
        "model",
        "day",
    ]
    since: dt.date | None = None
    until: dt.date | None = None
    tenant_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None

    @field_validator("group_by", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class SpendRow(BaseModel):
    """One group: its keys (those grouped by), requests, tokens and amount."""

    tenant_id: str | None = None
    key_id: str | None = None
    model: str | None = None
    day: str | None = None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    amount_usd: Money


class SpendReport(BaseModel):
    """``GET /v1/inference/spend``."""

    group_by: list[Dimension]
    data: list[SpendRow]
    total_usd: Money


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _day_text(index: int) -> str:
    return dt.datetime.fromtimestamp(index * _DAY_S, dt.UTC).date().isoformat()


def spend_report(session: Session, caller: Caller, query: SpendQuery) -> SpendReport:
    """The report the caller may see (a tenant: its own usage only)."""
    u = TokenUsageModel
    dims = [d for d in DIMENSIONS if d in query.group_by]
    if session.get_bind().dialect.name == "postgresql":
        day_index: Any = cast(func.floor(u.at / _DAY_S), Integer)
    else:
        day_index = cast(u.at / _DAY_S, Integer)  # SQLite truncates: floor for t > 0
    columns: dict[Dimension, Any] = {
        "tenant": u.tenant_id,
        "key": u.key_id,
        "model": u.model,
        "day": day_index,
    }
    keys = [columns[d].label(d) for d in dims]
    stmt = select(
        *keys,
        func.count(),
        func.sum(u.prompt_tokens),
        func.sum(u.completion_tokens),
        func.sum(u.amount_usd),
    )
    tenant = query.tenant_id if caller.is_admin else caller.tenant_id
    if tenant is not None:
        stmt = stmt.where(u.tenant_id == tenant)
    if query.since is not None:
        stmt = stmt.where(u.at >= _epoch(query.since))
    if query.until is not None:
        stmt = stmt.where(u.at < _epoch(query.until))
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    rows: list[SpendRow] = []
    total = Decimal(0)
    for found in session.execute(stmt.limit(MAX_ROWS)):
        values = dict(zip(dims, found[: len(dims)], strict=True))
        count, prompt, completion, summed = found[len(dims) :]
        amount = Decimal(summed or 0)
        total += amount
        day = values.get("day")
        rows.append(
            SpendRow(
                tenant_id=values.get("tenant"),
                key_id=values.get("key"),
                model=values.get("model"),
                day=None if day is None else _day_text(int(day)),
                requests=int(count),
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                amount_usd=amount,
            )
        )
    return SpendReport(group_by=dims, data=rows, total_usd=total)
