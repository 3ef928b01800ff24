"""Result tables as plain text cells (title, header, rows), for the command line's rich tables.

Pure data: no terminal and no rich here, so any front end can draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gigawatt.economics import fmt
from gigawatt.economics.compare import LINES, Comparison, summary
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.model import SEGMENT_LINES
from gigawatt.economics.montecarlo import MonteCarloResult
from gigawatt.economics.sensitivity import Tornado
from gigawatt.economics.simfrontier import SimFrontier

_PNL = (
    ("Revenue", "revenue_usd"),
    ("Power", "power_cost_usd"),
    ("Depreciation", "depreciation_usd"),
    ("Internal value (kept GPUs)", "internal_value_usd"),
    ("Opex", "opex_usd"),
    ("Selling costs", "selling_cost_usd"),
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
    if e.break_even_lease_price_per_watt_year is not None:
        rows.append(("Break-even lease $/W-year", fmt.usd(e.break_even_lease_price_per_watt_year)))
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


def _segment_label(line: str) -> str:
    return line.removesuffix("_usd").replace("_", " ").capitalize()


def segments_table(e: Evaluation) -> TextTable:
    """Both wheels, line by line."""
    ext, kept = e.segments["external"], e.segments["internal"]
    rows = [("GPUs", fmt.number(ext["gpus"]), fmt.number(kept["gpus"]))]
    for line in SEGMENT_LINES:
        rows.append((_segment_label(line), fmt.usd(ext[line]), fmt.usd(kept[line])))
    return TextTable(
        "Two wheels: sold and kept", ("Line", "External (sold)", "Internal (kept)"), rows
    )


def valuation_table(e: Evaluation) -> TextTable:
    """What the market pays for each wheel, and the re-rating."""
    v = e.valuation
    seg = v["by_segment"]
    rows = [
        (
            f"Internal earnings x {seg['internal']['multiple']:g}",
            fmt.usd(seg["internal"]["value_usd"]),
        ),
        (
            f"External earnings x {seg['external']['multiple']:g}",
            fmt.usd(seg["external"]["value_usd"]),
        ),
        (f"Re-rating ({fmt.pct(v['share_sold'])} sold)", fmt.usd(v["rerating_usd"])),
        ("Equity value change", fmt.usd(v["equity_value_change_usd"])),
        ("Equity value", fmt.usd(v["equity_value_usd"])),
        ("Price per share change", fmt.usd(v["price_per_share_change_usd"])),
        ("vs keeping everything, per share", fmt.usd(v["vs_keep_all_per_share_usd"])),
    ]
    if v["implied_rerating"] is not None:
        rows.append(
            ("Implied re-rating at full sale (P/E points)", f"{v['implied_rerating']:+.2f}")
        )
    return TextTable("Valuation", ("Line", "Value"), rows)


def allocation_table(e: Evaluation) -> TextTable:
    """The optimal split and the break-even internal value."""
    a = e.allocation
    assert a is not None
    unit = "$" if a.objective != "eps" else "$/share "
    rows = [
        ("Objective", a.objective),
        ("Optimal internal share", fmt.pct(a.optimal_internal_share, 2)),
        ("Objective at the optimum", f"{unit}{fmt.number(a.objective_value)}"),
        (
            "Break-even internal value $/GPU-h",
            fmt.usd(a.break_even_internal_value_per_gpu_hour),
        ),
    ]
    return TextTable("Best split", ("Line", "Value"), rows)


def sim_frontier_table(f: SimFrontier) -> TextTable:
    """The twin's points, annualised and scaled to the scenario's fleet."""
    rows = [
        (
            ("* " if i == f.best_index else "") + str(p["external_cap_gpus"]),
            fmt.pct(p["internal_share"]),
            fmt.usd(p["external_revenue_usd"]),
            fmt.number(p["internal_gpu_hours"]),
            fmt.usd(p["deferred_internal_value_usd"]),
            "n/a" if p["internal_p95_queue_s"] is None else f"{p['internal_p95_queue_s']:,.0f}",
            fmt.usd(p["equity_value_usd"]),
        )
        for i, p in enumerate(f.points)
    ]
    head = (
        "External cap",
        "Kept",
        "Ext. revenue",
        "Int. GPU-h",
        "Deferred value",
        "Int. P95 wait s",
        "Equity value",
    )
    return TextTable(f"Simulated frontier ({f.source}; * best)", head, rows)


def compare_table(c: Comparison) -> TextTable:
    """The compared strategies, one column each."""
    sums = [summary(e) for _, e in c.rows]
    rows = []
    for label, key in LINES:
        cells = []
        for doc in sums:
            value = doc[key]
            if key == "internal_share":
                cells.append(fmt.pct(value))
            elif key == "gpus":
                cells.append(fmt.number(value))
            else:
                cells.append(fmt.usd(value))
        rows.append((label, *cells))
    return TextTable("Sell, keep, or both?", ("Line", *(name for name, _ in c.rows)), rows)
