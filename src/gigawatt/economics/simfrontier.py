"""The sell-or-keep frontier as the digital twin measured it.

``gigawatt simulate --sweep`` over ``external_cap_gpus`` runs the same workload with more and
more capacity open to outside tenants. Each point reports the external revenue earned and the
internal GPU-hours served (internal work keeps priority, but queues behind external jobs that
hold GPUs). This module turns the points into the frontier the economics engine models:

- each point's window is annualised (x one year / the measured window) and scaled from the
  simulated fleet to the scenario's (x scenario GPUs / simulated GPUs);
- the internal GPU-hours a point serves are valued on the model's own curve: they stand for
  g = hours / (8,760 x u_int) GPUs kept, worth V(g) (so with the linear default, v per hour);
- the internal work a point defers, against the point that serves most, is valued at the
  marginal internal value, integrated: V(g_most) - V(g) (v per deferred hour when linear);
- each point's operating income = external revenue less revenue-linked costs + V(g), less the
  fleet's power, depreciation and fixed opex (the same at every point, allocated by the realised
  share of GPU-hours); net income, EPS and equity value follow as in the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gigawatt.core.errors import InvalidInput
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.model import internal_utilization, internal_value

_YEAR_S = 8760.0 * 3600.0


@dataclass(frozen=True)
class SimFrontier:
    """Simulated points (annualised, scaled) and the best one for the scenario's objective."""

    source: str
    objective: str
    points: list[dict[str, Any]]
    best_index: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``allocation.simulated_frontier``)."""
        return {
            "source": self.source,
            "objective": self.objective,
            "best": self.points[self.best_index],
            "points": self.points,
        }


def _num(point: Mapping[str, Any], key: str, where: str) -> float:
    value = point.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"expected a number for {key!r}, got {value!r}", where)
    return float(value)


def sweep_points(doc: Any) -> list[Mapping[str, Any]] | None:
    """The points of an ``external_cap_gpus`` sweep, or ``None`` for any other twin result."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("scenarios"), list):
        return None
    points = [p for p in doc["scenarios"] if isinstance(p, Mapping) and "external_cap_gpus" in p]
    return points or None


def sim_frontier(doc: Any, e: Evaluation, source: str) -> SimFrontier | None:
    """The simulated frontier of a sweep result valued under ``e``'s scenario (else None)."""
    raw = sweep_points(doc)
    if raw is None:
        return None
    x, a = e.resolved.inputs, e.annual
    u_int = float(internal_utilization(x))
    fixed = a["power_cost_usd"] + a["depreciation_usd"] + a["opex_fixed_usd"]
    variable_pct = x["opex_pct_revenue"] + x["selling_cost_pct_revenue"]
    rows: list[dict[str, Any]] = []
    for i, p in enumerate(raw):
        where = f"from_sim.scenarios[{i}]"
        measured = (
            _num(p, "measured_s", where) if "measured_s" in p else _num(p, "duration_s", where)
        )
        if measured <= 0:
            raise InvalidInput("measured window is empty", where)
        fleet_raw = p.get("fleet")
        fleet: Mapping[str, Any] = fleet_raw if isinstance(fleet_raw, Mapping) else {}
        sim_gpus = float(fleet.get("gpus") or a["gpus"])
        scale = _YEAR_S / measured * (a["gpus"] / sim_gpus if sim_gpus > 0 else 1.0)
        ext_hours = _num(p, "external_gpu_hours", where) * scale
        int_hours = _num(p, "internal_gpu_hours", where) * scale
        rows.append(
            {
                "external_cap_gpus": p.get("external_cap_gpus"),
                "internal_share": int_hours / (ext_hours + int_hours)
                if ext_hours + int_hours > 0
                else 1.0,
                "external_revenue_usd": _num(p, "external_revenue_usd", where) * scale,
                "external_gpu_hours": ext_hours,
                "internal_gpu_hours": int_hours,
                "internal_mean_queue_s": p.get("internal_mean_queue_s"),
                "internal_p95_queue_s": p.get("internal_p95_queue_s"),
            }
        )

    def value(hours: float) -> float:
        kept = np.asarray(hours / (8760.0 * u_int) if u_int > 0 else 0.0)
        return float(internal_value(x, kept, np.asarray(a["gpus"])))

    most_internal = max(r["internal_gpu_hours"] for r in rows)
    tax, shares = x["tax_rate"], x["diluted_shares"]
    best = 0
    for k, r in enumerate(rows):
        deferred = max(most_internal - r["internal_gpu_hours"], 0.0)
        r["deferred_internal_gpu_hours"] = deferred
        r["internal_value_usd"] = value(r["internal_gpu_hours"])
        r["deferred_internal_value_usd"] = value(most_internal) - r["internal_value_usd"]
        kept_share = r["internal_share"]
        ext_oi = r["external_revenue_usd"] * (1 - variable_pct) - fixed * (1 - kept_share)
        int_oi = r["internal_value_usd"] - fixed * kept_share
        r["operating_income_usd"] = ext_oi + int_oi
        r["net_income_usd"] = (ext_oi + int_oi) * (1 - tax)
        r["eps_usd"] = r["net_income_usd"] / shares if math.isfinite(shares) else None
        sold = 1.0 - kept_share
        r["equity_value_usd"] = (
            x["base_net_income"] * x["base_pe"]
            + ext_oi * (1 - tax) * x["cloud_pe"]
            + int_oi * (1 - tax) * x["platform_pe"]
            + x["rerating_at_full_sale"] * sold * x["base_net_income"]
        )
        if _objective(r, e.scenario.objective) > _objective(rows[best], e.scenario.objective):
            best = k
    return SimFrontier(source, e.scenario.objective, rows, best)


def _objective(row: Mapping[str, Any], objective: str) -> float:
    if objective == "equity_value":
        return float(row["equity_value_usd"])
    return float(row["net_income_usd"])  # EPS and run-rate NPV both rank by net income here
