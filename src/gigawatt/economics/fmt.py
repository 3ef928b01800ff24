"""Human formatting of economics figures for tables, charts and the HTML report."""

from __future__ import annotations

import math
from typing import Any

_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def usd(value: float | None, digits: int = 2) -> str:
    """``$19.73B``, ``-$1.02B``, ``$5.13``; ``n/a`` for None or NaN."""
    if value is None or math.isnan(value):
        return "n/a"
    v = abs(value)
    sign = "-" if value < 0 and (v >= 1e3 or round(v, digits) > 0) else ""  # never "-$0.00"
    for scale, suffix in _SCALES:
        if v >= scale:
            return f"{sign}${v / scale:,.{digits}f}{suffix}"
    return f"{sign}${v:,.{digits}f}"


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: float | None, digits: int = 2) -> str:
    """``500,000``, ``4.38B``, ``0.85``; ``n/a`` for None or NaN."""
    if value is None or math.isnan(value):
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e7:
        return f"{int(value):,}"
    for scale, suffix in _SCALES[:3]:
        if abs(value) >= scale:
            return _trim(f"{value / scale:,.{digits}f}") + suffix
    return _trim(f"{value:,.{digits}f}")


def pct(value: float | None, digits: int = 1) -> str:
    """``76.8%``; ``n/a`` for None or NaN."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value * 100 + 0.0:.{digits}f}%".replace("-0.0%", "0.0%")


def value(v: Any) -> str:
    """Any assumption value in a short readable form."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float | int):
        return number(float(v), 4)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {value(x)}" for k, x in v.items()) or "-"
    if isinstance(v, list | tuple):
        return ", ".join(value(x) for x in v) or "-"
    return str(v)
