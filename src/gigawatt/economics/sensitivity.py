"""The tornado: move one input at a time to its low and its high, keep the rest at base, and
rank the inputs by how far they swing the answer.

All 2 x K evaluations run as one vectorised call. Ranges come from the scenario's ``ranges``
(with their sources) or from each variable's default range (an estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.economics.model import FloatArray, annual, npv_only
from gigawatt.economics.resolve import Resolved, resolve
from gigawatt.economics.scenario import Scenario
from gigawatt.economics.valuation import valuation
from gigawatt.economics.variables import VARIABLES

#: Outputs the tornado reports for every row; any of them can rank the rows.
METRICS: tuple[str, ...] = (
    "revenue_usd",
    "operating_income_usd",
    "eps_uplift_usd",
    "npv_usd",
    "equity_value_usd",
)


@dataclass(frozen=True)
class InputRange:
    """The low and high of one input, and where they come from."""

    name: str
    label: str
    base: float
    low: float
    high: float
    source: str


@dataclass(frozen=True)
class TornadoRow:
    """One bar: an input at its low and its high, and the outputs there."""

    input: InputRange
    at_low: dict[str, float]
    at_high: dict[str, float]
    swing: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form of the row."""
        i = self.input
        return {
            "input": i.name,
            "label": i.label,
            "base": i.base,
            "low": i.low,
            "high": i.high,
            "source": i.source,
            "at_low": self.at_low,
            "at_high": self.at_high,
            "swing": self.swing,
        }


@dataclass(frozen=True)
class Tornado:
    """Rows sorted by swing of ``metric``, largest first."""

    metric: str
    base: dict[str, float]
    rows: list[TornadoRow]

    def to_dict(self) -> dict[str, Any]:
        """The ``sensitivity`` section of the JSON output."""
        return {
            "metric": self.metric,
            "base": self.base,
            "rows": [row.to_dict() for row in self.rows],
        }


def input_ranges(r: Resolved) -> list[InputRange]:
    """The low/high of every input that matters for this scenario."""
    s = r.scenario
    out: list[InputRange] = []
    for name, var in VARIABLES.items():
        if not var.relevant(r.inputs):
            continue
        base = r.inputs[name]
        if name in s.ranges:
            low, high = (var.clip(v) for v in s.ranges[name])
            source = s.sources.get(f"ranges.{name}") or s.source_of("ranges")
        else:
            low, high = var.default_range(base)
            source = "estimate: default range"
        out.append(InputRange(name, var.label, base, low, high, source))
    return out


def _metrics(x: dict[str, Any], r: Resolved) -> dict[str, FloatArray]:
    base = annual(x, r.structure)
    out = {m: base[m] for m in METRICS if m in base}
    out["npv_usd"] = npv_only(x, r.structure, base)
    out["equity_value_usd"] = valuation(base, x)["equity_value_usd"]
    return out


def _finite(value: float) -> float:
    return value if np.isfinite(value) else 0.0


def sensitivity(
    scenario: Scenario | Resolved,
    catalogue: Catalogue | None = None,
    metric: str = "eps_uplift_usd",
) -> Tornado:
    """The tornado of ``scenario`` ranked by ``metric`` (one of :data:`METRICS`)."""
    if metric not in METRICS:
        raise InvalidInput(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}", "metric")
    r = scenario if isinstance(scenario, Resolved) else resolve(scenario, catalogue)
    ranges = input_ranges(r)
    n = 2 * len(ranges)
    x: dict[str, Any] = {k: np.full(n, v) for k, v in r.inputs.items()}
    for i, rng in enumerate(ranges):
        x[rng.name][2 * i] = rng.low
        x[rng.name][2 * i + 1] = rng.high
    out = _metrics(x, r)
    base_out = {m: float(v) for m, v in _metrics(dict(r.inputs), r).items()}
    rows = []
    for i, rng in enumerate(ranges):
        low = {m: float(out[m][2 * i]) for m in METRICS}
        high = {m: float(out[m][2 * i + 1]) for m in METRICS}
        values = (low[metric], high[metric], base_out[metric])
        rows.append(TornadoRow(rng, low, high, max(values) - min(values)))
    rows.sort(key=lambda row: (-_finite(row.swing), row.input.name))
    return Tornado(metric, base_out, rows)
