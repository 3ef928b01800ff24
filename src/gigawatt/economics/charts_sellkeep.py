"""PNG charts of the sell-or-keep question: the frontier of the split and the valuation bridge.

Money axes read in $B. Matplotlib's Agg canvas only (no display, no pyplot state).
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from gigawatt.economics.allocation import Allocation
from gigawatt.economics.charts import _png
from gigawatt.economics.evaluate import Evaluation
from gigawatt.economics.simfrontier import SimFrontier

_KEYS = {"eps": "eps_usd", "npv": "npv_usd", "equity_value": "equity_value_usd"}
_LABELS = {"eps": "EPS uplift ($/share)", "npv": "NPV ($B)", "equity_value": "Equity value ($B)"}
_UP, _DOWN, _TOTAL = "#228833", "#cc3311", "#4477aa"


def _billions(ax_axis: object) -> None:
    ax_axis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.0f}B"))  # type: ignore[attr-defined]


def frontier_png(
    allocation: Allocation,
    strategies: Sequence[tuple[str, float]] = (),
    simulated: SimFrontier | None = None,
) -> bytes:
    """The objective at every 1% of internal share, the optimum marked; the named strategies
    (label, internal share) as dots; the twin's simulated points when given."""
    key = _KEYS[allocation.objective]
    scale = 1.0 if allocation.objective == "eps" else 1e9
    xs = [p["internal_share"] * 100 for p in allocation.frontier]
    ys = [p[key] / scale for p in allocation.frontier]
    fig = Figure(figsize=(8.5, 4.6))
    ax = fig.add_subplot()
    ax.plot(xs, ys, color=_TOTAL, linewidth=2, label="modelled frontier")
    best_x = allocation.optimal_internal_share * 100
    best_y = allocation.objective_value / scale
    ax.plot(
        [best_x],
        [best_y],
        marker="*",
        markersize=16,
        color="#ee7733",
        linestyle="none",
        label=f"optimum: keep {best_x:.1f}%",
    )
    for label, share in strategies:
        k = min(range(len(xs)), key=lambda i: abs(xs[i] - share * 100))
        ax.annotate(
            label,
            (xs[k], ys[k]),
            textcoords="offset points",
            xytext=(0, 10),
            ha="center",
            fontsize=8,
        )
        ax.plot([xs[k]], [ys[k]], marker="o", color="black", linestyle="none")
    if simulated is not None:
        sim_key = {"eps": "eps_usd", "npv": "net_income_usd"}.get(
            allocation.objective, "equity_value_usd"
        )
        pts = [
            (p["internal_share"] * 100, p[sim_key])
            for p in simulated.points
            if p.get(sim_key) is not None
        ]
        ax.plot(
            [p[0] for p in pts],
            [p[1] / scale for p in pts],
            marker="s",
            color="#aa3377",
            linestyle="--",
            label=f"simulated ({sim_key.removesuffix('_usd')})",
        )
    ax.set_xlabel("share of the capacity kept for own products (%)")
    ax.set_ylabel(_LABELS[allocation.objective])
    if scale == 1e9:
        _billions(ax.yaxis)
    ax.set_title("Sell, keep, or both: the frontier of the split")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def bridge_png(strategies: Sequence[tuple[str, Evaluation]]) -> bytes:
    """One waterfall per strategy: today's equity value, + each wheel at its multiple,
    + the re-rating, = the strategy's equity value ($B)."""
    fig = Figure(figsize=(4.2 * max(len(strategies), 1), 4.4))
    for i, (name, e) in enumerate(strategies):
        v = e.valuation
        seg = v["by_segment"]
        steps = [
            ("today", v["base_equity_value_usd"], True),
            ("kept wheel", seg["internal"]["value_usd"], False),
            ("sold wheel", seg["external"]["value_usd"], False),
            ("re-rating", v["rerating_usd"], False),
            (name, v["equity_value_usd"], True),
        ]
        ax = fig.add_subplot(1, len(strategies), i + 1)
        level = 0.0
        levels: list[float] = []
        for j, (_label, amount, total) in enumerate(steps):
            b = amount / 1e9
            if total:
                ax.bar(j, b, color=_TOTAL)
                level = b
            else:
                ax.bar(j, b, bottom=level, color=_UP if b >= 0 else _DOWN)
                level += b
            levels += [level, level - b] if not total else [b]
            ax.text(
                j,
                level if not total else b,
                f"{b:+,.0f}" if not total else f"{b:,.0f}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        low, high = min(levels), max(levels)
        if low > 0:  # zoom on the steps: the company dwarfs them from a zero baseline
            ax.set_ylim(low - 0.25 * (high - low) - 1e-9, high + 0.1 * (high - low) + 1e-9)
        ax.set_xticks(range(len(steps)), [s[0] for s in steps], rotation=30, fontsize=7)
        _billions(ax.yaxis)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Valuation bridge: from today's equity value to each strategy")
    fig.tight_layout()
    return _png(fig)
