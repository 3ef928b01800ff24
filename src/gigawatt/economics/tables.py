"""Result tables as plain text cells (title, header, rows), for the command line's rich tables.

Pure data: no terminal and no rich here, so any front end can draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gigawatt.economics import fmt
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.montecarlo import MonteCarloResult
from gigawatt.economics.sensitivity import Tornado

_PNL = (
    ("Revenue", "revenue_usd"),
    ("Power", "power_cost_usd"),
    ("Depreciation", "depreciation_usd"),
    ("Opex", "opex_usd"),
    ("Operating income", "operating_income_usd"),
    ("Tax", "tax_usd"),
    ("Net income", "net_income_usd"),
    ("EPS uplift", "eps_uplift_usd"),
)


@dataclass(frozen=True)
class TextTable:
    """A titled table of text cells; the first column is a label, the others are figures."""

    title: str
    head: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def pnl_table(e: Evaluation) -> TextTable:
    """Capacity, the run-rate P&L, NPV/IRR/payback and break-even prices."""
    a, s = e.annual, e.scenario
    rows = [
        ("IT power", f"{fmt.number(a['it_power_mw'])} MW"),
        ("GPUs", fmt.number(a["gpus"])),
        ("GPU-hours billed", fmt.number(a["gpu_hours_billed"])),
    ]
    rows += [(label, fmt.usd(a[key])) for label, key in _PNL]
    rows.append(("Operating margin", fmt.pct(a["operating_margin"])))
    rows.append((f"NPV ({s.cost_basis} basis, {s.discount_rate:.0%})", fmt.usd(e.npv_usd)))
    rows.append(("IRR", fmt.pct(e.irr) if e.irr is not None else "n/a"))
    payback = f"{e.payback_years:.2f} y" if e.payback_years is not None else "never"
    rows.append(("Payback", payback if e.investment_usd < 0 else "n/a (nothing invested)"))
    rows.append(("Break-even $/GPU-h (NPV 0)", fmt.usd(e.break_even_price_per_gpu_hour)))
    if e.price_for_target_revenue is not None:
        label = f"$/GPU-h for {fmt.usd(e.target_revenue_usd)} revenue"
        rows.append((label, fmt.usd(e.price_for_target_revenue)))
    return TextTable(f"{s.name}: run-rate year", ("Line", "Value"), rows)


def tornado_table(t: Tornado) -> TextTable:
    """Each input's low and high and the metric there, largest swing first."""
    m = t.metric
    rows = [
        (
            r.input.label,
            fmt.value(r.input.low),
            fmt.value(r.input.high),
            fmt.usd(r.at_low[m]),
            fmt.usd(r.at_high[m]),
        )
        for r in t.rows
    ]
    return TextTable(f"Tornado ({m})", ("Input", "Low", "High", "At low", "At high"), rows)


def monte_carlo_table(mc: MonteCarloResult) -> TextTable:
    """P5/P50/P95 of each output."""
    rows = [
        (name, fmt.usd(p["p5"]), fmt.usd(p["p50"]), fmt.usd(p["p95"]))
        for name, p in mc.percentiles().items()
    ]
    title = f"Monte Carlo ({mc.draws:,} draws, seed {mc.seed})"
    return TextTable(title, ("Output", "P5", "P50", "P95"), rows)


def assumptions_table(e: Evaluation) -> TextTable:
    """Every input used, its value and its source."""
    rows = [(k, fmt.value(v["value"]), str(v["source"])) for k, v in e.assumptions.items()]
    return TextTable("Assumptions", ("Input", "Value", "Source"), rows)
