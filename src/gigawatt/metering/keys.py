"""Deterministic idempotency keys for usage records.

A GPU usage record is keyed by where its piece of time starts:
``"{job_id}:{attempt}:{start_ms}"`` with ``start_ms`` the start in milliseconds since the
epoch, written exactly (``1798765432123`` or, for a start that is not a whole millisecond,
``1798765432123.456``). The same piece metered twice gets the same key, so the database's
unique constraint keeps one; two pieces of an attempt that start at the same instant
necessarily overlap, and their keys collide, so an overlap is refused rather than billed twice.
"""

from __future__ import annotations

from decimal import Decimal

from gigawatt.billing.checks import exact_seconds, require_int, require_text, require_time

_THOUSAND = Decimal(1000)


def exact_millis(ts: float) -> str:
    """``ts`` (seconds) in milliseconds, as the exact shortest decimal, without exponent."""
    millis = (exact_seconds(require_time(ts, "start")) * _THOUSAND).normalize()
    return "0" if millis.is_zero() else format(millis, "f")


def usage_key(job_id: str, attempt: int, start: float) -> str:
    """Key of the usage piece of ``job_id``'s ``attempt`` that starts at ``start``."""
    require_text(job_id, "job_id")
    require_int(attempt, "attempt")
    return f"{job_id}:{attempt}:{exact_millis(start)}"


def token_key(request_id: str) -> str:
    """Key of the token usage of one inference request."""
    return f"tok:{require_text(request_id, 'request_id')}"
