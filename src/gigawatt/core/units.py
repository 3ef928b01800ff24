"""Parsing of human quantities such as ``250MW`` or ``1.5GW``."""

from __future__ import annotations

import re

from gigawatt.core.errors import InvalidInput

_POWER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(kw|mw|gw)?\s*$", re.IGNORECASE)
_TO_MW = {"kw": 1e-3, "mw": 1.0, "gw": 1e3}


def parse_power_mw(text: str | float | int, field: str = "power") -> float:
    """Parse ``250MW``, ``1GW``, ``1.5GW``, ``800kW`` or a bare number of MW into MW (> 0)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _POWER.match(str(text))
        if not match:
            raise InvalidInput(
                f"cannot parse {text!r}; use a positive number with kW, MW or GW "
                "(e.g. 250MW, 1.5GW)",
                field,
            )
        value = float(match.group(1)) * _TO_MW[(match.group(2) or "mw").lower()]
    if not value > 0 or value == float("inf"):
        raise InvalidInput(f"must be greater than 0, got {text!r}", field)
    return value
