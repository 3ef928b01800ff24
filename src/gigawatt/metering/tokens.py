"""Meter inference: one :class:`TokenUsage` per request, keyed by the request id."""

from __future__ import annotations

from gigawatt.billing.checks import require_int, require_text, require_time
from gigawatt.billing.periods import period_of
from gigawatt.billing.prices import ModelPrice, rate_tokens
from gigawatt.metering.keys import token_key
from gigawatt.metering.records import TokenUsage


def meter_tokens(
    request_id: str,
    tenant: str,
    key_id: str | None,
    model_price: ModelPrice,
    prompt_tokens: int,
    completion_tokens: int,
    at: float,
) -> TokenUsage:
    """The usage of one request: its tokens rated at ``model_price``, in the period of ``at``.

    The idempotency key is ``"tok:{request_id}"``, so a retried write of the same request is
    refused by the database's unique constraint. A request that failed upstream is metered with
    zero tokens (or not at all) by the caller; a stream cut short is metered with the tokens
    actually generated.
    """
    require_text(tenant, "tenant")
    if key_id is not None:
        require_text(key_id, "key_id")
    when = require_time(at, "at")
    return TokenUsage(
        idempotency_key=token_key(request_id),
        tenant=tenant,
        key_id=key_id,
        model=model_price.model,
        prompt_tokens=require_int(prompt_tokens, "prompt_tokens"),
        completion_tokens=require_int(completion_tokens, "completion_tokens"),
        amount_usd=rate_tokens(prompt_tokens, completion_tokens, model_price),
        at=when,
        period=period_of(when),
    )
