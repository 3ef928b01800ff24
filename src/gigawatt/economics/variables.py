"""The numeric inputs that the tornado and the Monte Carlo vary, and their distributions.

Each :class:`Variable` names an input of the vectorised model (``model.INPUTS``), its hard
bounds (draws are clipped to them) and a default low/high range (an estimate) used when a
scenario gives no ``ranges`` entry. Scenario ``uncertainty`` entries are :class:`Distribution`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, model_validator

FloatArray = npt.NDArray[np.float64]
Spread = Callable[[float], tuple[float, float]]
Relevance = Callable[[Mapping[str, float]], bool]


def _always(_: Mapping[str, float]) -> bool:
    return True


@dataclass(frozen=True)
class Variable:
    """One input the sensitivity analysis and the Monte Carlo may vary."""

    name: str
    label: str
    lower: float
    upper: float
    spread: Spread
    relevant: Relevance = _always

    def clip(self, value: float) -> float:
        """``value`` held inside the variable's hard bounds."""
        return float(min(max(value, self.lower), self.upper))

    def default_range(self, base: float) -> tuple[float, float]:
        """The estimated low/high around ``base``, inside the hard bounds."""
        low, high = self.spread(base)
        return self.clip(min(low, base)), self.clip(max(high, base))


def _rel(down: float, up: float) -> Spread:
    return lambda b: (b * (1 - down), b * (1 + up))


def _abs(down: float, up: float) -> Spread:
    return lambda b: (b - down, b + up)


def _sells(key: str) -> Relevance:
    return lambda x: x.get(key, 0.0) > 0


def _keeps(x: Mapping[str, float]) -> bool:
    return x.get("internal_share", 0.0) > 0


def _sells_some(x: Mapping[str, float]) -> bool:
    return x.get("internal_share", 0.0) < 1


def _has_base(x: Mapping[str, float]) -> bool:
    return x.get("base_net_income", 0.0) != 0 and x.get("internal_share", 0.0) < 1


def _capex_route(per_gw: bool) -> Relevance:
    return lambda x: (x.get("capex_per_gw", 0.0) > 0) == per_gw


_INF = float("inf")

#: Every variable, by model input name. Ranges are Gigawatt's own estimates.
VARIABLES: Final[MappingProxyType[str, Variable]] = MappingProxyType(
    {
        v.name: v
        for v in (
            Variable(
                "price_per_gpu_hour",
                "Price per GPU-hour",
                0,
                _INF,
                _rel(0.25, 0.25),
                _sells("share_gpu_hours"),
            ),
            Variable("utilization", "Billed utilisation", 0, 1, _abs(0.15, 0.10)),
            Variable("kw_per_gpu", "All-in kW per GPU", 1e-3, _INF, _rel(0.15, 0.15)),
            Variable("pue", "PUE", 1, _INF, _abs(0.10, 0.20)),
            Variable("power_price_per_mwh", "Power price $/MWh", 0, _INF, _rel(0.4, 0.4)),
            Variable("load_factor", "Load factor", 0, 1, _abs(0.15, 0.10)),
            Variable("opex_per_mw_year", "Opex $/MW-year", 0, _INF, _rel(0.5, 0.5)),
            Variable("opex_pct_revenue", "Opex % of revenue", 0, 1, _rel(0.5, 0.5)),
            Variable("internal_share", "Internal share", 0, 1, _abs(0.0, 0.2)),
            Variable("tax_rate", "Tax rate", 0, 1, _abs(0.05, 0.08)),
            Variable(
                "capex_per_gw", "Capex $/GW", 0, _INF, _rel(0.25, 0.25), _capex_route(per_gw=True)
            ),
            Variable(
                "capex_per_gpu_usd",
                "Capex per GPU",
                0,
                _INF,
                _rel(0.25, 0.25),
                _capex_route(per_gw=False),
            ),
            Variable(
                "facility_capex_per_mw",
                "Facility capex $/MW",
                0,
                _INF,
                _rel(0.25, 0.25),
                _capex_route(per_gw=False),
            ),
            Variable("life_years", "Depreciation life (years)", 1, 50, _abs(1.0, 1.0)),
            Variable("price_decline_per_year", "Price decline per year", 0, 0.99, _abs(0.05, 0.10)),
            Variable("discount_rate", "Discount rate", -0.99, 1, _abs(0.03, 0.03)),
            Variable(
                "tokens_per_second",
                "Tokens/s per GPU",
                0,
                _INF,
                _rel(0.3, 0.3),
                _sells("share_tokens"),
            ),
            Variable(
                "token_price_per_million",
                "Price per million tokens",
                0,
                _INF,
                _rel(0.3, 0.3),
                _sells("share_tokens"),
            ),
            Variable(
                "lease_price_per_watt_year",
                "Lease $/W-year",
                0,
                _INF,
                _rel(0.25, 0.25),
                _sells("share_lease"),
            ),
            Variable(
                "internal_value_per_gpu_hour",
                "Internal value per GPU-hour",
                0,
                _INF,
                _rel(0.5, 0.5),
                _keeps,
            ),
            Variable(
                "internal_value_elasticity",
                "Internal value elasticity",
                0.01,
                1,
                _abs(0.3, 0.0),
                _keeps,
            ),
            Variable(
                "price_premium_when_scarce",
                "Price premium when scarce",
                0,
                _INF,
                _abs(0.0, 0.2),
                _sells_some,
            ),
            Variable("platform_pe", "Platform P/E", 0, _INF, _rel(0.25, 0.25), _keeps),
            Variable("cloud_pe", "Cloud P/E", 0, _INF, _rel(0.3, 0.3), _sells_some),
            Variable(
                "rerating_at_full_sale",
                "Re-rating at full sale (P/E points)",
                -_INF,
                _INF,
                _abs(2.0, 2.0),
                _has_base,
            ),
        )
    }
)


class Distribution(BaseModel):
    """A per-input distribution for the Monte Carlo.

    ``uniform``: low, high. ``triangular``: low, mode (default: the base value), high.
    ``normal``: mean (default: base), sd. ``lognormal``: median (default: base), sigma (of the
    log). Draws are clipped to the variable's hard bounds (e.g. utilisation to [0, 1]).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    dist: Literal["uniform", "triangular", "normal", "lognormal"]
    low: float | None = None
    high: float | None = None
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    sigma: float | None = None
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        needs = {
            "uniform": ("low", "high"),
            "triangular": ("low", "high"),
            "normal": ("sd",),
            "lognormal": ("sigma",),
        }[self.dist]
        missing = [k for k in needs if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{self.dist} needs {', '.join(missing)}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        for k in ("sd", "sigma"):
            v = getattr(self, k)
            if v is not None and v < 0:
                raise ValueError(f"{k} must be >= 0, got {v}")
        if self.dist == "lognormal" and self.median is not None and self.median <= 0:
            raise ValueError(f"lognormal median must be > 0, got {self.median}")
        return self

    def describe(self, base: float) -> dict[str, float | str]:
        """The parameters actually used (defaults filled in from ``base``)."""
        if self.dist == "uniform":
            return {"dist": "uniform", "low": float(self.low or 0), "high": float(self.high or 0)}
        if self.dist == "triangular":
            low, high = float(self.low or 0), float(self.high or 0)
            mode = min(max(self.mode if self.mode is not None else base, low), high)
            return {"dist": "triangular", "low": low, "mode": mode, "high": high}
        if self.dist == "normal":
            mean = self.mean if self.mean is not None else base
            return {"dist": "normal", "mean": float(mean), "sd": float(self.sd or 0)}
        median = self.median if self.median is not None else base
        return {"dist": "lognormal", "median": float(median), "sigma": float(self.sigma or 0)}

    def ppf(self, base: float, u: FloatArray) -> FloatArray:
        """The inverse distribution function at ``u`` in (0, 1) (for correlated draws)."""
        from scipy.special import ndtri

        p = self.describe(base)
        if p["dist"] == "uniform":
            low, high = float(p["low"]), float(p["high"])
            return np.asarray(low + u * (high - low), dtype=np.float64)
        if p["dist"] == "triangular":
            low, mode, high = float(p["low"]), float(p["mode"]), float(p["high"])
            if high <= low:
                return np.full(np.shape(u), low)
            width = high - low
            cut = (mode - low) / width
            left = low + np.sqrt(u * width * (mode - low))
            right = high - np.sqrt((1.0 - u) * width * (high - mode))
            return np.asarray(np.where(u < cut, left, right), dtype=np.float64)
        if p["dist"] == "normal":
            return np.asarray(float(p["mean"]) + float(p["sd"]) * ndtri(u), dtype=np.float64)
        median = float(p["median"])
        if median <= 0:
            return np.zeros(np.shape(u))
        return np.asarray(np.exp(np.log(median) + float(p["sigma"]) * ndtri(u)), dtype=np.float64)

    def sample(self, base: float, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` draws (not yet clipped to the variable's bounds)."""
        p = self.describe(base)
        if p["dist"] == "uniform":
            return rng.uniform(float(p["low"]), float(p["high"]), n)
        if p["dist"] == "triangular":
            low, mode, high = float(p["low"]), float(p["mode"]), float(p["high"])
            if high <= low:
                return np.full(n, low)
            return rng.triangular(low, mode, high, n)
        if p["dist"] == "normal":
            return rng.normal(float(p["mean"]), float(p["sd"]), n)
        median = float(p["median"])
        if median <= 0:
            return np.zeros(n)
        return np.exp(rng.normal(np.log(median), float(p["sigma"]), n))


def sample_clipped(
    variable: Variable, dist: Distribution, base: float, rng: np.random.Generator, n: int
) -> FloatArray:
    """``n`` draws of ``variable`` from ``dist``, clipped to the variable's hard bounds."""
    return np.clip(dist.sample(base, rng, n), variable.lower, variable.upper)
