"""The report's opening answer, "Sell, keep, or both?", and the ``--compare`` report.

The three strategies side by side, the frontier of the split with the optimum marked (and the
twin's simulated points when a sweep was given), the valuation bridge from today's equity value
to each strategy, and this run's revenue per gigawatt beside the analysts' $20B.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from gigawatt.economics import fmt
from gigawatt.economics.charts_sellkeep import bridge_png, frontier_png
from gigawatt.economics.compare import LINES, Comparison, summary
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.report_html import STYLE, img, table
from gigawatt.economics.simfrontier import SimFrontier


@dataclass(frozen=True)
class ReportContext:
    """What the report says about its own run, and the strategies to set beside it."""

    command_line: str
    generated: str
    analyst_revenue_per_gw_usd: float
    strategies: Comparison | None = None
    sim_frontier: SimFrontier | None = None


def _cell(key: str, value: object) -> str:
    if key == "internal_share":
        return fmt.pct(value if isinstance(value, float) else None)
    if key == "gpus":
        return fmt.number(value if isinstance(value, int | float) else None)
    return fmt.usd(value if isinstance(value, int | float) else None)


def strategies_table(c: Comparison) -> str:
    """The strategies, one column each."""
    sums = [summary(e) for _, e in c.rows]
    rows = [[escape(label)] + [_cell(key, s[key]) for s in sums] for label, key in LINES]
    head = ["", *(name for name, _ in c.rows)]
    return table(head, rows, set(range(1, len(head))))


def per_gw(e: Evaluation) -> float:
    """External revenue per GW of IT power."""
    gw = e.annual["it_power_mw"] / 1000.0
    return e.annual["revenue_usd"] / gw if gw > 0 else 0.0


def _analyst(e: Evaluation, c: Comparison | None, analyst: float) -> str:
    sell_all = next((ev for name, ev in (c.rows if c else []) if name == "sell all"), e)
    return (
        f"<p>Analysts' estimate: about <b>{fmt.usd(analyst)}</b> of revenue a year per gigawatt "
        f"sold (JPMorgan, about 2 Jul 2026). This run, all sold: <b>{fmt.usd(per_gw(sell_all))}"
        f"</b> per GW of IT power; as split here: {fmt.usd(per_gw(e))} per GW.</p>"
    )


def _frontier(c: Comparison | None, sim: SimFrontier | None) -> str:
    best = next((ev for _, ev in (c.rows if c else []) if ev.allocation is not None), None)
    if best is None or best.allocation is None:
        return ""
    a = best.allocation
    marks = [(name, ev.resolved.inputs["internal_share"]) for name, ev in (c.rows if c else [])]
    be = a.break_even_internal_value_per_gpu_hour
    text = (
        f"<p>Best split for <b>{escape(a.objective)}</b>: keep "
        f"<b>{fmt.pct(a.optimal_internal_share)}</b>, sell the rest. At that split the marginal "
        f"GPU is worth the same kept or sold when internal value is "
        f"<b>{fmt.usd(be)}</b> per GPU-hour.</p>"
    )
    if sim is not None:
        p = sim.points[sim.best_index]
        text += (
            f"<p>The twin's simulated frontier ({escape(sim.source)}): {len(sim.points)} "
            "external caps; "
            f"the best is cap {p['external_cap_gpus']} (keeps "
            f"{fmt.pct(p['internal_share'])} of GPU-hours, "
            f"defers {fmt.number(p['deferred_internal_gpu_hours'])} internal GPU-hours a year, "
            f"internal P95 wait {float(p['internal_p95_queue_s'] or 0):,.0f} s). The chart "
            "shows both frontiers: modelled (line) and simulated (squares).</p>"
        )
    return text + img(frontier_png(a, marks, sim), "frontier of the split")


def sell_keep_section(e: Evaluation, ctx: ReportContext) -> str:
    """The report's first section."""
    c = ctx.strategies
    parts = ["<h2>Sell, keep, or both?</h2>"]
    if c is not None:
        parts.append(strategies_table(c))
    parts.append(_analyst(e, c, ctx.analyst_revenue_per_gw_usd))
    parts.append(_frontier(c, ctx.sim_frontier))
    if c is not None:
        parts.append(img(bridge_png(c.rows), "valuation bridge"))
    return "".join(parts)


def footer(command_line: str, generated: str) -> str:
    """The command line and date of the run."""
    return (
        f"<p class=muted>Generated {escape(generated)} by <code>{escape(command_line)}</code>. "
        "Figures are floats in US dollars per year unless stated; see docs/economics.md.</p>"
    )


def render_comparison(c: Comparison, command_line: str, generated: str) -> str:
    """The ``--compare`` report: strategies, frontier (where one optimises) and bridge."""
    names = ", ".join(name for name, _ in c.rows)
    ctx = ReportContext(command_line, generated, 20e9, c, None)
    first = c.rows[0][1]
    return "\n".join(
        [
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Gigawatt: compare "
            f"{escape(names)}</title><style>{STYLE}</style></head><body>",
            f"<h1>Sell, keep, or both? {escape(names)}</h1>",
            sell_keep_section(first, ctx),
            footer(command_line, generated),
            "</body></html>",
        ]
    )
