"""Break-even prices: the price per GPU-hour at which NPV is zero, and the one that reaches a
given annual revenue.

Revenue is linear in the GPU-hour price, every cost that depends on revenue is a fixed share of
it and tax is a fixed rate, so NPV and revenue are affine in the price: two evaluations (at $0
and $1) give the exact answer, in one vectorised call.
"""

from __future__ import annotations

import numpy as np

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.economics.model import annual, yearly
from gigawatt.economics.resolve import Resolved, resolve
from gigawatt.economics.scenario import Scenario


def _as_resolved(scenario: Scenario | Resolved, catalogue: Catalogue | None) -> Resolved:
    return scenario if isinstance(scenario, Resolved) else resolve(scenario, catalogue)


def _at_prices(r: Resolved, key: str = "price_per_gpu_hour") -> dict[str, np.ndarray]:
    x: dict[str, float | np.ndarray] = dict(r.inputs)
    x[key] = np.array([0.0, 1.0])
    base = annual(x, r.structure)
    return {"revenue_usd": base["revenue_usd"], "npv_usd": yearly(x, r.structure, base)["npv_usd"]}


def break_even_price(
    scenario: Scenario | Resolved, catalogue: Catalogue | None = None
) -> float | None:
    """Price per GPU-hour at which NPV over the asset life is zero, on the scenario's cost basis.

    On the ``full`` basis this is the price at which building the capacity to sell pays back at
    the discount rate; on the ``incremental`` basis (capacity already paid for) it is the floor
    below which selling loses money. ``None`` when no capacity is sold by the GPU-hour. The value
    may be negative when other revenue (tokens, lease) already pays for everything.
    """
    r = _as_resolved(scenario, catalogue)
    at = _at_prices(r)["npv_usd"]
    slope = float(at[1] - at[0])
    if slope <= 0:
        return None
    return -float(at[0]) / slope + 0.0


def break_even_lease_price(
    scenario: Scenario | Resolved, catalogue: Catalogue | None = None
) -> float | None:
    """Lease price per watt-year (on the scenario's lease basis) at which NPV is zero.

    ``None`` when no capacity is leased. Lease revenue is affine in its price like GPU-hours.
    """
    r = _as_resolved(scenario, catalogue)
    if r.inputs["share_lease"] <= 0 or r.inputs["internal_share"] >= 1:
        return None
    at = _at_prices(r, "lease_price_per_watt_year")["npv_usd"]
    slope = float(at[1] - at[0])
    if slope <= 0:
        return None
    return -float(at[0]) / slope + 0.0


def price_for_revenue(
    scenario: Scenario | Resolved, target_revenue_usd: float, catalogue: Catalogue | None = None
) -> float:
    """Price per GPU-hour at which the run-rate annual revenue equals ``target_revenue_usd``."""
    if not target_revenue_usd >= 0:
        raise InvalidInput(f"must be >= 0, got {target_revenue_usd}", "target_revenue")
    r = _as_resolved(scenario, catalogue)
    rev = _at_prices(r)["revenue_usd"]
    slope = float(rev[1] - rev[0])
    if slope <= 0:
        raise InvalidInput(
            "no GPU-hours are billed, so no price reaches a revenue target; "
            "allowed: a scenario with gpu_hours in sales_mix, utilisation > 0 and GPUs",
            "target_revenue",
        )
    return (target_revenue_usd - float(rev[0])) / slope
