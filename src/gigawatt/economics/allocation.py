"""The best split between the wheels: how much capacity to keep, how much to sell.

The objective (run-rate EPS, NPV over the asset life, or equity value) is evaluated for many
``internal_share`` values in one vectorised call. The optimum comes from SciPy's bounded scalar
minimiser, checked against a 1% grid (the frontier reported) and the two ends, so a kink or an
all-or-nothing answer (the linear default model) is never missed. The break-even internal value
is the value per GPU-hour at which the objective's slope in the split is zero: the marginal GPU
is worth the same kept or sold. Every objective is affine in that value, so two slopes give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from gigawatt.core.errors import InvalidInput
from gigawatt.economics.model import FloatArray, annual, npv_only
from gigawatt.economics.resolve import Resolved
from gigawatt.economics.valuation import valuation

GRID_STEPS = 100
_SLOPE_STEP = 1e-4


def objective_values(
    r: Resolved, shares: FloatArray | float, overrides: dict[str, float] | None = None
) -> dict[str, FloatArray]:
    """EPS, net income, NPV and equity value at each internal share (vectorised)."""
    x: dict[str, Any] = dict(r.inputs)
    x.update(overrides or {})
    x["internal_share"] = np.asarray(shares, dtype=np.float64)
    a = annual(x, r.structure)
    v = valuation(a, x)
    return {
        "eps": a["eps_uplift_usd"],
        "net_income": a["net_income_usd"],
        "npv": npv_only(x, r.structure, a),
        "equity_value": v["equity_value_usd"],
    }


def check_objective(r: Resolved, objective: str) -> None:
    """EPS needs a share count: say so instead of optimising NaN."""
    if objective == "eps" and not np.isfinite(r.inputs["diluted_shares"]):
        raise InvalidInput(
            "eps needs a share count; allowed: set --shares (or a preset with diluted_shares), "
            "or use --objective npv|equity_value",
            "objective",
        )


@dataclass(frozen=True)
class Allocation:
    """The optimal split, the 1% frontier and the break-even internal value."""

    objective: str
    optimal_internal_share: float
    objective_value: float
    frontier: list[dict[str, float]]
    break_even_internal_value_per_gpu_hour: float | None

    def to_dict(self) -> dict[str, Any]:
        """The ``allocation`` section of the JSON output."""
        return {
            "objective": self.objective,
            "optimal_internal_share": self.optimal_internal_share,
            "objective_value": self.objective_value,
            "break_even_internal_value_per_gpu_hour": self.break_even_internal_value_per_gpu_hour,
            "frontier": self.frontier,
        }


def frontier(r: Resolved) -> list[dict[str, float]]:
    """Objective values at each 1% step of the internal share, 0% to 100%."""
    shares = np.linspace(0.0, 1.0, GRID_STEPS + 1)
    values = objective_values(r, shares)
    return [
        {
            "internal_share": float(s),
            "eps_usd": _finite(values["eps"][i]),
            "net_income_usd": float(values["net_income"][i]),
            "npv_usd": float(values["npv"][i]),
            "equity_value_usd": float(values["equity_value"][i]),
        }
        for i, s in enumerate(shares)
    ]


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else float("nan")


def optimal_share(r: Resolved, objective: str) -> tuple[float, float]:
    """The internal share that maximises ``objective``, and the objective there."""
    check_objective(r, objective)

    def f(share: float) -> float:
        return float(objective_values(r, share)[objective])

    grid = np.linspace(0.0, 1.0, GRID_STEPS + 1)
    grid_values = objective_values(r, grid)[objective]
    k = int(np.argmax(grid_values))
    candidates = [(float(grid_values[k]), float(grid[k]))]
    solved = minimize_scalar(
        lambda s: -f(s), bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-7}
    )
    candidates.append((-float(solved.fun), float(solved.x)))
    low, high = grid[max(k - 1, 0)], grid[min(k + 1, GRID_STEPS)]
    if high > low:
        local = minimize_scalar(
            lambda s: -f(s),
            bounds=(float(low), float(high)),
            method="bounded",
            options={"xatol": 1e-9},
        )
        candidates.append((-float(local.fun), float(local.x)))
    best_value, best_share = max(candidates)
    return best_share, best_value


def break_even_internal_value(r: Resolved, objective: str, at_share: float) -> float | None:
    """The internal value per GPU-hour at which moving a GPU between wheels at ``at_share``
    changes nothing (``None`` when keeping adds no value at any price, e.g. no utilisation)."""
    lo = max(at_share - _SLOPE_STEP, 0.0)
    hi = min(at_share + _SLOPE_STEP, 1.0)
    slopes = []
    for v in (0.0, 1.0):
        ends = objective_values(r, np.array([lo, hi]), {"internal_value_per_gpu_hour": v})[
            objective
        ]
        slopes.append(float(ends[1] - ends[0]) / (hi - lo))
    per_dollar = slopes[1] - slopes[0]
    if not per_dollar > 0:
        return None
    return -slopes[0] / per_dollar + 0.0


def allocate(r: Resolved, objective: str) -> Allocation:
    """Optimise the split of ``r`` for ``objective`` (eps, npv or equity_value)."""
    share, value = optimal_share(r, objective)
    return Allocation(
        objective=objective,
        optimal_internal_share=share,
        objective_value=value,
        frontier=frontier(r),
        break_even_internal_value_per_gpu_hour=break_even_internal_value(r, objective, share),
    )
