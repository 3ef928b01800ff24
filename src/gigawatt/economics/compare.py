"""Strategies side by side: sell everything, keep everything, or run both wheels.

``compare([(name, scenario), ...])`` values each scenario (optimising the split where the
scenario asks for it) and lines up the figures a reader compares: the split, both wheels'
earnings, EPS, NPV and what the market would pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gigawatt.economics.evaluate import Evaluation, evaluate
from gigawatt.economics.scenario import Scenario

#: ``(label, JSON key of Evaluation.to_dict())`` of each compared line.
LINES: tuple[tuple[str, str], ...] = (
    ("Internal share", "internal_share"),
    ("GPUs", "gpus"),
    ("External revenue", "revenue_usd"),
    ("Internal value", "internal_value_usd"),
    ("Operating income", "operating_income_usd"),
    ("Net income", "net_income_usd"),
    ("EPS uplift", "eps_uplift_usd"),
    ("NPV", "npv_usd"),
    ("Equity value change", "equity_value_change_usd"),
    ("Price per share change", "price_per_share_change_usd"),
    ("vs keep all, per share", "vs_keep_all_per_share_usd"),
)


def summary(e: Evaluation) -> dict[str, Any]:
    """The compared figures of one evaluation (flat, JSON-safe)."""
    doc = e.to_dict()
    v = doc["valuation"]
    return {
        "scenario": e.scenario.name,
        "description": e.scenario.description,
        "internal_share": e.resolved.inputs["internal_share"],
        "optimised": e.allocation is not None,
        "gpus": doc["gpus"],
        "revenue_usd": doc["revenue_usd"],
        "internal_value_usd": doc["internal_value_usd"],
        "operating_income_usd": doc["operating_income_usd"],
        "net_income_usd": doc["net_income_usd"],
        "eps_uplift_usd": doc["eps_uplift_usd"],
        "npv_usd": doc["multi_year"]["npv_usd"],
        "equity_value_change_usd": v["equity_value_change_usd"],
        "price_per_share_change_usd": v["price_per_share_change_usd"],
        "vs_keep_all_per_share_usd": v["vs_keep_all_per_share_usd"],
        "segments": doc["segments"],
        "valuation": v,
    }


@dataclass(frozen=True)
class Comparison:
    """The evaluations compared, in the order given."""

    rows: list[tuple[str, Evaluation]]

    def to_dict(self) -> dict[str, Any]:
        """``{"compare": [{"preset": name, ...summary}, ...]}``."""
        return {"compare": [{"preset": name, **summary(e)} for name, e in self.rows]}


def compare(scenarios: Sequence[tuple[str, Scenario]]) -> Comparison:
    """Value each named scenario for side-by-side reading."""
    return Comparison([(name, evaluate(s)) for name, s in scenarios])
