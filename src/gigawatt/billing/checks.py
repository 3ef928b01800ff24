"""Small argument validators shared by the pure metering and billing code.

Each raises :class:`gigawatt.core.errors.InvalidInput` naming the offending field, so a bad
value reaching the core from the API or CLI becomes a 4xx, never a traceback.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from gigawatt.core.errors import InvalidInput
from gigawatt.core.money import to_money
from gigawatt.core.tiers import Tier


def require_text(value: object, field: str) -> str:
    """A non-empty string (surrounding whitespace is not allowed to be all there is)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"must be a non-empty string, got {value!r}", field)
    return value


def require_int(value: object, field: str, minimum: int = 0) -> int:
    """An ``int`` (not a bool) that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"must be an integer, got {value!r}", field)
    if value < minimum:
        raise InvalidInput(f"must be at least {minimum}, got {value}", field)
    return value


def require_time(value: object, field: str) -> float:
    """A finite number of seconds since the epoch, returned as ``float``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"must be a number of seconds, got {value!r}", field)
    ts = float(value)
    if not math.isfinite(ts):
        raise InvalidInput(f"must be finite, got {value!r}", field)
    return ts


def require_non_negative_float(value: object, field: str) -> float:
    """A finite number ≥ 0, returned as ``float``."""
    number = require_time(value, field)
    if number < 0:
        raise InvalidInput(f"must not be negative, got {value!r}", field)
    return number


def parse_tier(value: object, field: str = "tier") -> Tier:
    """A :class:`Tier` from itself or its string value."""
    if isinstance(value, Tier):
        return value
    try:
        return Tier(str(value))
    except ValueError:
        known = ", ".join(t.value for t in Tier)
        raise InvalidInput(f"unknown tier {value!r}; known tiers: {known}", field) from None


def parse_money(value: object, field: str) -> Decimal:
    """A finite, non-negative :class:`Decimal` from a Decimal, int, float or numeric string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidInput(f"must be a decimal amount, got {value!r}", field)
    try:
        amount = to_money(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"must be a decimal amount, got {value!r}", field) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"must be a finite amount ≥ 0, got {value!r}", field)
    return amount


def exact_seconds(ts: float) -> Decimal:
    """A time as the shortest decimal that round-trips its float: exact, deterministic."""
    return Decimal(repr(float(ts)))
