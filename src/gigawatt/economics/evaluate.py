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
from gigawatt.economics.breakeven import break_even_price, price_for_revenue
from gigawatt.economics.model import FloatArray, annual, irr, payback_years, yearly
from gigawatt.economics.resolve import Assumptions, Resolved, resolve
from gigawatt.economics.scenario import Scenario

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
    "power_cost_usd",
    "depreciation_usd",
    "opex_usd",
    "operating_income_usd",
    "tax_usd",
    "net_income_usd",
    "cash_flow_usd",
)


def _num(value: Any) -> float | None:
    """A plain JSON number (``None`` for NaN)."""
    v = float(value)
    return None if math.isnan(v) else v


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
        doc.update({k: a[k] for k in PNL_KEYS})
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
        }
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
    """Value ``scenario``: run-rate P&L, cash flows, NPV/IRR/payback and break-even prices."""
    r = resolve(scenario, catalogue)
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
    return Evaluation(
        resolved=r,
        annual={k: float(v) for k, v in base.items() if np.ndim(v) == 0},
        gpus_by_type=by_type,
        years=years,
        investment_usd=float(investment),
        npv_usd=float(flows["npv_usd"]),
        irr=_num(irr(investment, cash)),
        payback_years=_num(payback_years(investment, cash)) if investment < 0 else None,
        break_even_price_per_gpu_hour=break_even_price(r),
        target_revenue_usd=target_revenue_usd,
        price_for_target_revenue=price_target,
    )
