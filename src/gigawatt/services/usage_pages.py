"""``GET /v1/usage`` one page at a time: GPU usage records first, then inference token usage.

The cursor holds the phase (0: GPU records, 1: token records) and the position within it
(``(start, id)`` or ``(at, id)``), so a walk sees every record that existed when it began
exactly once, in a stable order, whatever is inserted meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

from gigawatt.billing.periods import parse_period
from gigawatt.inference.billing_hooks import TokenUsageOut, token_usage_out
from gigawatt.services.auth import Principal
from gigawatt.services.platform import Platform
from gigawatt.services.views import UsageView, usage_view
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import TokenUsageModel
from gigawatt.store.pagination import Page, Scalar, SortKey, decode_cursor, encode_cursor
from gigawatt.store.repositories import usage as repo

UsageItem = UsageView | TokenUsageOut
_LISTING = "usage"
_CURSOR = (
    SortKey(TokenUsageModel.id, int),  # phase (the column is not queried)
    SortKey(TokenUsageModel.at, float),
    SortKey(TokenUsageModel.id, int),
)


def list_usage_page(
    platform: Platform,
    principal: Principal,
    tenant_id: str | None = None,
    job_id: str | None = None,
    period: str | None = None,
    limit: int = 10_000,
    cursor: str | None = None,
    kind: str | None = None,
) -> Page[UsageItem]:
    """One page of the caller's usage (admin: all, or ``tenant_id``'s), oldest first: GPU
    time of jobs, then inference tokens (``kind`` ``gpu`` or ``inference`` keeps one)."""
    if period is not None:
        parse_period(period)
    phase, position = 0, None
    if cursor is not None:
        decoded = decode_cursor(_LISTING, cursor, _CURSOR)
        phase, position = int(decoded[0]), decoded[1:]
    scope = tenant_id if principal.is_admin else principal.tenant_id
    need = limit + 1
    found: list[tuple[int, Sequence[Scalar], UsageItem]] = []
    with transaction(platform.sessions) as s:
        if phase == 0 and kind != "inference":
            for r in repo.gpu_usage_after(s, scope, job_id, period, position, need):
                found.append((0, (r.start_ts, r.id), usage_view(r)))
            position = None
        if len(found) < need and kind != "gpu" and job_id is None:
            rows = repo.token_usage_after(s, scope, period, position, need - len(found))
            found += [(1, (r.at, r.id), token_usage_out(r)) for r in rows]
    if len(found) <= limit:
        return Page([item for _, _, item in found], None)
    last_phase, last_key, _ = found[limit - 1]
    next_cursor = encode_cursor(_LISTING, [last_phase, *last_key])
    return Page([item for _, _, item in found[:limit]], next_cursor)
