"""Inference usage where the control plane shows and bills usage.

- :func:`usage_views` lists token usage records for ``GET /v1/usage`` (beside GPU records,
  each marked ``"kind": "inference"``);
- :func:`uninvoiced` and :func:`mark_invoiced` let closing a period put token usage on the
  tenant's invoice as lines by model (``build_invoice(..., token_usages, ...)``), in the same
  transaction as the GPU-hour lines. Records that carry no tokens (upstream errors) are marked
  invoiced without producing a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, PlainSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from gigawatt.inference import repo
from gigawatt.inference.token_accounting import Caller
from gigawatt.metering.records import TokenUsage
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import TokenUsageModel

Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class TokenUsageOut(BaseModel):
    """One inference request's usage, shaped to sit beside GPU usage records.

    The GPU fields are present with neutral values (no job, zero GPU-seconds), so a client
    summing ``amount_usd`` or ``gpu_seconds`` over ``GET /v1/usage`` gets the right totals.
    """

    kind: Literal["inference"] = "inference"
    id: int
    request_id: str
    tenant: str
    tenant_id: str
    key_id: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    status: str
    reason: str
    #: The upstream URL or replica that served the request (or last failed it).
    upstream: str | None = None
    at: float
    start: float
    end: float
    job_id: None = None
    attempt: None = None
    gpu_type: None = None
    tier: None = None
    gpus: int = 0
    gpu_seconds: float = 0.0
    energy_kwh: float = 0.0
    amount_usd: Money
    period: str
    invoice_id: str | None


def token_usage_out(row: TokenUsageModel) -> TokenUsageOut:
    """A token usage row shaped to sit beside GPU usage records."""
    return TokenUsageOut(
        id=row.id,
        request_id=row.idempotency_key.removeprefix("tok:"),
        tenant=row.tenant_id,
        tenant_id=row.tenant_id,
        key_id=row.key_id,
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        total_tokens=row.prompt_tokens + row.completion_tokens,
        status=row.status,
        reason=row.reason,
        upstream=row.upstream,
        at=row.at,
        start=row.at,
        end=row.at,
        amount_usd=row.amount_usd,
        period=row.period,
        invoice_id=row.invoice_id,
    )


def usage_views(
    session: Session, tenant_id: str | None, period: str | None, limit: int
) -> list[TokenUsageOut]:
    """Token usage of one tenant (or all), oldest first."""
    return [token_usage_out(r) for r in repo.list_token_usage(session, tenant_id, period, limit)]


def list_for(
    sessions: sessionmaker[Session],
    caller: Caller,
    tenant_id: str | None,
    period: str | None,
    limit: int,
) -> list[TokenUsageOut]:
    """Token usage the caller may see: its own tenant's (admin: all, or ``tenant_id``'s)."""
    scope = tenant_id if caller.is_admin else caller.tenant_id
    with transaction(sessions) as s:
        return usage_views(s, scope, period, limit)


def uninvoiced(session: Session, period: str) -> dict[str, list[tuple[int, TokenUsage]]]:
    """Token usage of ``period`` not invoiced yet, by tenant: ``[(row id, usage), …]``."""
    out: dict[str, list[tuple[int, TokenUsage]]] = {}
    for row in repo.uninvoiced_token_usage(session, period):
        out.setdefault(row.tenant_id, []).append((row.id, repo.to_token_usage(row)))
    return out


def billable(items: Sequence[tuple[int, TokenUsage]]) -> list[TokenUsage]:
    """The usages worth a line (some tokens or some amount)."""
    return [u for _, u in items if u.total_tokens or u.amount_usd]


def mark_invoiced(session: Session, row_ids: Sequence[int], invoice_id: str) -> None:
    """Attach token usage rows to the invoice that billed them."""
    if row_ids:
        session.execute(
            update(TokenUsageModel)
            .where(TokenUsageModel.id.in_(list(row_ids)))
            .values(invoice_id=invoice_id)
            .execution_options(synchronize_session=False)
        )
