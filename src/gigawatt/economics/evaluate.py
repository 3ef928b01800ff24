"""Value one scenario: the run-rate P&L, the cash flows over the asset life and break-even prices.

``evaluate(Scenario(...))`` returns an :class:`Evaluation`; ``to_dict()`` gives the stable JSON
document of ``gigawatt value --format json`` (without the optional ``monte_carlo`` and
``sensitivity`` sections, which their own functions add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.economics.allocation import Allocation, allocate, objective_values
from gigawatt.economics.breakeven import break_even_lease_price, break_even_price, price_for_revenue
from gigawatt.economics.model import (
    SEGMENT_LINES,
    FloatArray,
    annual,
    irr,
    payback_years,
    yearly,
)
from gigawatt.economics.resolve import Assumptions, Resolved, resolve
from gigawatt.economics.scenario import Scenario
from gigawatt.economics.valuation import implied_rerating, share_sold, valuation
from gigawatt.economics.warnings import scenario_warnings

#: The P&L keys of the JSON document, in order (all plain floats, USD unless named otherwise).
PNL_KEYS: tuple[str, ...] = (
    "revenue_usd",
    "power_cost_usd",
    "depreciation_usd",
    "opex_usd",
    "operating_income_usd",
    "operating_margin",
    "tax_usd",
    "net_income_usd",
    "eps_uplift_usd",
)
_YEAR_KEYS = (
    "revenue_usd",
    "internal_value_usd",
    "power_cost_usd",
    "depreciation_usd",
    "opex_usd",
    "operating_income_usd",
    "tax_usd",
    "net_income_usd",
    "cash_flow_usd",
)


def _num(value: Any) -> float | None:
    """A plain JSON number (``None`` for NaN; never -0.0)."""
    v = float(value)
    return None if math.isnan(v) else v + 0.0


@dataclass(frozen=True)
class Evaluation:
    """The valuation of one scenario (all figures are floats, USD unless named otherwise)."""

    resolved: Resolved
    annual: dict[str, float]
    gpus_by_type: dict[str, int]
    years: list[dict[str, float]]
    investment_usd: float
    npv_usd: float
    irr: float | None
    payback_years: float | None
    break_even_price_per_gpu_hour: float | None
    target_revenue_usd: float | None = None
    price_for_target_revenue: float | None = None
    break_even_lease_price_per_watt_year: float | None = None
    segments: dict[str, dict[str, float | None]] = field(default_factory=dict)
    valuation: dict[str, Any] = field(default_factory=dict)
    allocation: Allocation | None = None
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scenario(self) -> Scenario:
        """The scenario valued."""
        return self.resolved.scenario

    @property
    def assumptions(self) -> Assumptions:
        """Every input used, with its source."""
        return self.resolved.assumptions

    def __getitem__(self, key: str) -> float:
        return self.annual[key]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON document (``gigawatt value --format json``)."""
        a = self.annual
        doc: dict[str, Any] = {
            "scenario": self.scenario.name,
            "it_power_mw": a["it_power_mw"],
            "facility_power_mw": a["facility_power_mw"],
            "gpus": int(a["gpus"]),
            "gpus_by_type": dict(self.gpus_by_type),
            "gpu_hours_billed": a["gpu_hours_billed"],
            "internal_gpu_hours": a["internal_gpu_hours"],
            "tokens_billed": a["tokens_billed"],
        }
        doc.update({k: _num(a[k]) for k in PNL_KEYS})
        doc["selling_cost_usd"] = a["selling_cost_usd"]
        doc["revenue_by_stream_usd"] = {
            "gpu_hours": a["revenue_gpu_hours_usd"],
            "tokens": a["revenue_tokens_usd"],
            "lease": a["revenue_lease_usd"],
        }
        doc["revenue_by_tier_usd"] = self.revenue_by_tier()
        doc["internal_value_usd"] = a["internal_value_usd"]
        doc["capex_usd"] = a["capex_usd"]
        doc["multi_year"] = {
            "cost_basis": self.scenario.cost_basis,
            "discount_rate": self.scenario.discount_rate,
            "investment_usd": self.investment_usd,
            "npv_usd": self.npv_usd,
            "irr": self.irr,
            "payback_years": self.payback_years,
            "years": self.years,
        }
        doc["break_even"] = {
            "price_per_gpu_hour_npv_zero": self.break_even_price_per_gpu_hour,
            "target_revenue_usd": self.target_revenue_usd,
            "price_per_gpu_hour_for_target_revenue": self.price_for_target_revenue,
            "lease_price_per_watt_year_npv_zero": self.break_even_lease_price_per_watt_year,
        }
        doc["segments"] = self.segments
        doc["valuation"] = self.valuation
        doc["allocation"] = self.allocation.to_dict() if self.allocation is not None else None
        doc["warnings"] = list(self.warnings)
        doc["assumptions"] = self.assumptions
        doc.update(self.extra)
        return doc

    def revenue_by_tier(self) -> dict[str, float]:
        """GPU-hour revenue split over the tier mix (all of it in one line with a flat price)."""
        s, r = self.scenario, self.resolved
        total = self.annual["revenue_gpu_hours_usd"]
        if s.price_per_gpu_hour is not None:
            return {"blended": total}
        weights = {str(t): share * r.tier_prices[t] for t, share in s.tier_mix.items()}
        norm = math.fsum(weights.values())
        return {t: (total * w / norm if norm > 0 else 0.0) for t, w in weights.items()}


def evaluate(
    scenario: Scenario,
    catalogue: Catalogue | None = None,
    target_revenue_usd: float | None = None,
) -> Evaluation:
    """Value ``scenario``: both wheels' P&L, cash flows, NPV/IRR/payback, break-even prices and
    the valuation; with ``optimize: internal_share``, at the split that maximises the objective."""
    r = resolve(scenario, catalogue)
    allocation = None
    if scenario.optimize == "internal_share":
        allocation = allocate(r, scenario.objective)
        share = allocation.optimal_internal_share
        source = f"optimised for {scenario.objective} (--optimize internal_share)"
        r = resolve(scenario.with_values({"internal_share": share}, source, catalogue), catalogue)
    base = annual(r.inputs, r.structure)
    flows = yearly(r.inputs, r.structure, base)
    cash: FloatArray = flows["cash_flow_usd"]
    investment = flows["investment_usd"]
    years = [
        {"year": int(i + 1), **{k: float(flows[k][i]) for k in _YEAR_KEYS}}
        for i in range(cash.shape[-1])
    ]
    by_type = {n: int(v) for n, v in zip(r.gpu_types, base["gpus_by_type"], strict=True)}
    price_target = (
        price_for_revenue(r, target_revenue_usd) if target_revenue_usd is not None else None
    )
    payback = payback_years(investment, cash, flows["operating_fraction"])
    return Evaluation(
        resolved=r,
        annual={k: float(v) for k, v in base.items() if np.ndim(v) == 0},
        gpus_by_type=by_type,
        years=years,
        investment_usd=float(investment),
        npv_usd=float(flows["npv_usd"]),
        irr=_num(irr(investment, cash)),
        payback_years=_num(payback) if investment < 0 else None,
        break_even_price_per_gpu_hour=_opt(break_even_price(r)),
        target_revenue_usd=target_revenue_usd,
        price_for_target_revenue=_opt(price_target),
        break_even_lease_price_per_watt_year=_opt(break_even_lease_price(r)),
        segments=_segments(base),
        valuation=_valuation(r, base),
        allocation=allocation,
        warnings=scenario_warnings(r, base, catalogue),
    )


def _opt(value: float | None) -> float | None:
    return None if value is None else _num(value)


def _segments(base: dict[str, FloatArray]) -> dict[str, dict[str, float | None]]:
    """``segments.external`` and ``segments.internal``: every line of each wheel."""
    return {
        name: {line: _num(base[f"{prefix}_{line}"]) for line in SEGMENT_LINES}
        | {"gpus": float(base[f"{name}_gpus"])}
        for name, prefix in (("external", "ext"), ("internal", "int"))
    }


def _valuation(r: Resolved, base: dict[str, FloatArray]) -> dict[str, Any]:
    """The ``valuation`` section: each wheel at its multiple, the re-rating, the price move."""
    x = r.inputs
    v = {k: float(val) for k, val in valuation(base, x).items()}
    keep_all = objective_values(r, 1.0)["equity_value"]
    shares = x["diluted_shares"]
    vs_keep = (v["equity_value_usd"] - float(keep_all)) / shares
    doc: dict[str, Any] = {
        "by_segment": {
            "internal": {
                "net_income_usd": float(base["int_net_income_usd"]),
                "multiple": x["platform_pe"],
                "value_usd": v["internal_value_usd"],
            },
            "external": {
                "net_income_usd": float(base["ext_net_income_usd"]),
                "multiple": x["cloud_pe"],
                "value_usd": v["external_value_usd"],
            },
        },
        "share_sold": float(share_sold(base)),
        "rerating_usd": v["rerating_usd"],
        "base_equity_value_usd": v["base_equity_value_usd"],
        "equity_value_change_usd": v["equity_value_change_usd"],
        "equity_value_usd": v["equity_value_usd"],
        "price_per_share_change_usd": _num(v["price_per_share_change_usd"]),
        "vs_keep_all_per_share_usd": _num(vs_keep),
        "implied_rerating": _implied(r, base, v, float(keep_all)),
    }
    return doc


def _implied(
    r: Resolved, base: dict[str, FloatArray], v: dict[str, float], keep_all_equity: float
) -> float | None:
    """``--observed-price-move`` (with ``--share-price``) turned into the re-rating priced in."""
    s, x = r.scenario, r.inputs
    if s.observed_price_move is None:
        return None
    if s.share_price is None or not math.isfinite(x["diluted_shares"]):
        raise InvalidInput(
            "needs --share-price and a share count (--shares) to turn a price move into "
            "an equity value; allowed: a fraction greater than -1 with both given",
            "observed_price_move",
        )
    observed = s.observed_price_move * s.share_price * x["diluted_shares"]
    wheels_now = v["internal_value_usd"] + v["external_value_usd"]
    wheels_kept = keep_all_equity - v["base_equity_value_usd"]  # kept whole: no re-rating
    implied = implied_rerating(
        observed, wheels_now - wheels_kept, float(share_sold(base)), x["base_net_income"]
    )
    return None if implied is None else implied + 0.0
