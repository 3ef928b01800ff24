"""Use cases behind ``PUT /v1/limits`` and ``GET /v1/limits``: set and show budgets and limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import select

from gigawatt.core.errors import NotFound
from gigawatt.inference import repo
from gigawatt.inference.limits import BudgetPeriod, Limits, Subject, minute_window, price_text
from gigawatt.inference.settings import InferenceDeps
from gigawatt.inference.token_accounting import Caller, LimitCache
from gigawatt.store.db import transaction
from gigawatt.store.models import ApiKeyModel, TenantModel

_MICRO = Decimal("0.000001")


class LimitSpec(BaseModel):
    """Limits of one tenant or key; a field left out (or null) means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Literal["tenant", "key"]
    id: Annotated[str, Field(min_length=1, max_length=40)]
    budget_usd: Annotated[Decimal, Field(ge=0, le=10**12, allow_inf_nan=False)] | None = None
    requests_per_minute: Annotated[StrictInt, Field(ge=0, le=10**9)] | None = None
    tokens_per_minute: Annotated[StrictInt, Field(ge=0, le=10**15)] | None = None
    #: The window of ``budget_usd`` and ``soft_budget_usd`` (UTC day, ISO week, month).
    budget_period: BudgetPeriod = "month"
    #: Spend at which an alert event is recorded, once per window (nothing is refused).
    soft_budget_usd: Annotated[Decimal, Field(ge=0, le=10**12, allow_inf_nan=False)] | None = None
    #: Requests in flight at once, per gateway process (429 above).
    max_concurrent: Annotated[StrictInt, Field(ge=1, le=10**6)] | None = None

    @field_validator("budget_usd", "soft_budget_usd")
    @classmethod
    def _micro(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value != value.quantize(_MICRO):
            raise ValueError("at most 6 decimal places")
        return value


def _view(
    subject: Subject, limits: Limits, spend: Decimal, minute_tokens: int, now: float
) -> dict[str, Any]:
    soft = limits.soft_budget_usd
    return {
        "scope": subject.scope,
        "id": subject.id,
        "budget_usd": None if limits.budget_usd is None else price_text(limits.budget_usd),
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "budget_period": limits.budget_period,
        "budget_window": limits.window(now),
        "soft_budget_usd": None if soft is None else price_text(soft),
        "max_concurrent": limits.max_concurrent,
        "spent_this_period_usd": price_text(spend),
        "tokens_this_minute": minute_tokens,
    }


def set_limits(deps: InferenceDeps, cache: LimitCache, spec: LimitSpec) -> dict[str, Any]:
    """Replace the limits of an existing tenant or key (admin)."""
    subject = Subject(spec.scope, spec.id)
    limits = Limits(
        spec.budget_usd,
        spec.requests_per_minute,
        spec.tokens_per_minute,
        spec.budget_period,
        spec.soft_budget_usd,
        spec.max_concurrent,
    )
    now = deps.clock.now()
    with transaction(deps.sessions) as s:
        model = TenantModel if spec.scope == "tenant" else ApiKeyModel
        if s.get(model, spec.id) is None:
            raise NotFound(f"no {'tenant' if spec.scope == 'tenant' else 'API key'} {spec.id!r}")
        repo.write_limits(s, subject, limits, now)
        used = repo.read_usage(s, {subject: limits.window(now)}, minute_window(now))[subject]
    cache.forget(subject)
    return _view(subject, limits, used.spend_usd, used.minute_tokens, now)


def list_view(deps: InferenceDeps, caller: Caller) -> list[dict[str, Any]]:
    """Limits with this period's spend (admin: every subject; a tenant: itself and its keys)."""
    now = deps.clock.now()
    with transaction(deps.sessions) as s:
        found = repo.list_limits(s)
        if not caller.is_admin:
            keys = set(
                s.scalars(select(ApiKeyModel.id).where(ApiKeyModel.tenant_id == caller.tenant_id))
            )
            found = [
                (subj, lim)
                for subj, lim in found
                if (subj.scope == "tenant" and subj.id == caller.tenant_id)
                or (subj.scope == "key" and subj.id in keys)
            ]
        windows = {subj: lim.window(now) for subj, lim in found}
        used = repo.read_usage(s, windows, minute_window(now))
    return [
        _view(subj, lim, used[subj].spend_usd, used[subj].minute_tokens, now) for subj, lim in found
    ]


def alerts_view(deps: InferenceDeps, caller: Caller) -> list[dict[str, Any]]:
    """Alert events (admin: all; a tenant: its own and its keys'), newest first."""
    with transaction(deps.sessions) as s:
        subjects: list[Subject] | None = None
        if not caller.is_admin:
            tenant = caller.tenant_id or ""
            keys = s.scalars(select(ApiKeyModel.id).where(ApiKeyModel.tenant_id == tenant))
            subjects = [Subject("tenant", tenant), *(Subject("key", k) for k in keys)]
        rows = repo.list_alerts(s, subjects)
        return [
            {
                "scope": row.scope,
                "id": row.subject,
                "kind": row.kind,
                "window": row.bucket,
                "at": row.at,
                "message": row.message,
            }
            for row in rows
        ]
