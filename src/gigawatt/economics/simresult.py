"""Read a digital-twin result (``gigawatt simulate --format json``) into scenario overrides.

The twin reports the fleet's ``utilization`` (0..1) and ``gpu_hours_by_tier`` (and optionally
``revenue_usd_by_tier``) keyed by tier (internal, reserved, on_demand, spot). They map onto the
scenario as:

- ``utilization`` -> billed ``utilization`` (GPU-hours used / GPU-hours available);
- internal hours / all hours -> ``internal_share`` (the model charges internal capacity at the
  same utilisation, so the twin's internal hours are reproduced exactly);
- external hours by tier / external hours -> ``tier_mix``;
- revenue / hours of each external tier -> ``tier_prices`` (the realised price);
- ``fleet`` (GPU type, GPUs, IT MW) -> the fleet valued: ``power_mw`` = IT MW on the ``it``
  basis, ``gpu``, and ``kw_per_gpu`` = IT MW / GPUs, so the GPU count comes back exactly.

A sweep result (``{"scenarios": [...]}``) gives its fleet only; its points become the simulated
frontier (:mod:`gigawatt.economics.simfrontier`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.economics.presets import Layer
from gigawatt.economics.scenario import EXTERNAL_TIERS

_FIELD = "from_sim"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"expected a number, got {value!r}", where)
    return float(value)


def _by_tier(doc: Mapping[str, Any], key: str) -> dict[Tier, float]:
    raw = doc.get(key)
    if raw is None:
        return {}
    where = f"{_FIELD}.{key}"
    if not isinstance(raw, Mapping):
        raise InvalidInput("expected a mapping of tier: number", where)
    out: dict[Tier, float] = {}
    for name, value in raw.items():
        try:
            tier = Tier(str(name))
        except ValueError:
            allowed = ", ".join(t.value for t in Tier)
            raise InvalidInput(f"unknown tier {name!r}; allowed: {allowed}", where) from None
        v = _number(value, f"{where}.{name}")
        if v < 0:
            raise InvalidInput(f"{v} is negative; allowed: a number >= 0", f"{where}.{name}")
        out[tier] = v
    return out


def _fleet(doc: Mapping[str, Any]) -> dict[str, Any]:
    fleet = doc.get("fleet")
    if fleet is None:
        return {}
    where = f"{_FIELD}.fleet"
    if not isinstance(fleet, Mapping):
        raise InvalidInput("expected an object with gpu_type, gpus and it_power_mw", where)
    gpus = _number(fleet.get("gpus"), f"{where}.gpus")
    it_mw = _number(fleet.get("it_power_mw"), f"{where}.it_power_mw")
    if gpus <= 0 or it_mw <= 0:
        raise InvalidInput("gpus and it_power_mw must be > 0", where)
    out: dict[str, Any] = {
        "power_mw": it_mw,
        "power_basis": "it",
        "kw_per_gpu": it_mw * 1000 / gpus,
    }
    if isinstance(fleet.get("gpu_type"), str):
        out["gpu"] = fleet["gpu_type"]
        out["gpu_mix"] = None
    return out


def sim_layer(doc: Any, origin: str) -> Layer:
    """Scenario overrides from a parsed simulation result, each sourced to ``origin``."""
    if not isinstance(doc, Mapping):
        raise InvalidInput("expected a JSON object with utilization and gpu_hours_by_tier", _FIELD)
    scenarios = doc.get("scenarios")
    if isinstance(scenarios, list) and scenarios and isinstance(scenarios[0], Mapping):
        fleet = _fleet(scenarios[0])
        if not fleet:
            raise InvalidInput("a sweep result whose scenarios report no fleet", _FIELD)
        source = f"simulation sweep {origin} (fleet)"
        return Layer(fleet, {k: source for k in fleet})
    values = _fleet(doc)
    if "utilization" in doc:
        values["utilization"] = _number(doc["utilization"], f"{_FIELD}.utilization")
    hours = _by_tier(doc, "gpu_hours_by_tier")
    revenue = _by_tier(doc, "revenue_usd_by_tier")
    total = math.fsum(hours.values())
    if total > 0:
        values["internal_share"] = hours.get(Tier.INTERNAL, 0.0) / total
    external = {t: hours.get(t, 0.0) for t in EXTERNAL_TIERS}
    ext_total = math.fsum(external.values())
    if ext_total > 0:
        values["tier_mix"] = {str(t): h / ext_total for t, h in external.items() if h > 0}
    prices = {str(t): revenue[t] / h for t, h in external.items() if h > 0 and t in revenue}
    if prices:
        values["tier_prices"] = prices
    if not values:
        raise InvalidInput("has neither utilization nor gpu_hours_by_tier", _FIELD)
    source = f"simulation result {origin}"
    sources = {k: source for k in values}
    sources.update({f"tier_prices.{t}": f"{source} (realised price)" for t in prices})
    return Layer(values, sources)
