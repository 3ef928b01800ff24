"""Money is :class:`decimal.Decimal` US dollars, rounded only where an invoice line is written."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
#: Precision kept on usage records before invoicing (sub-cent amounts add up exactly).
MICRO = Decimal("0.000001")
ZERO = Decimal(0)


def to_money(value: Decimal | int | float | str) -> Decimal:
    """Convert to Decimal without binary float noise (floats go through ``repr``)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def round_cents(amount: Decimal) -> Decimal:
    """Round to whole cents, banker's rounding (as an invoice line is written)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def round_micro(amount: Decimal) -> Decimal:
    """Round to millionths of a dollar (usage-record precision)."""
    return amount.quantize(MICRO, rounding=ROUND_HALF_EVEN)


def gpu_seconds_amount(gpu_seconds: Decimal | float, price_per_gpu_hour: Decimal) -> Decimal:
    """Amount for ``gpu_seconds`` at ``price_per_gpu_hour``, at usage-record precision."""
    return round_micro(to_money(gpu_seconds) * price_per_gpu_hour / Decimal(3600))
