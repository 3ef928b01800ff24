"""PNG charts (matplotlib's Agg canvas, no display, no pyplot state): the tornado, the Monte Carlo
distributions and the revenue heat map over price x utilisation. Each returns PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from gigawatt.economics import fmt
from gigawatt.economics.model import annual
from gigawatt.economics.montecarlo import MonteCarloResult
from gigawatt.economics.resolve import Resolved
from gigawatt.economics.sensitivity import Tornado

_TITLES = {
    "revenue_usd": "Revenue per year",
    "operating_income_usd": "Operating income per year",
    "eps_uplift_usd": "EPS uplift per year",
    "npv_usd": "NPV over the asset life",
    "equity_value_usd": "Equity value",
}
_LOW, _HIGH = "#4477aa", "#ee6677"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _money(metric: str, v: float) -> str:
    return fmt.usd(v) if metric.endswith("_usd") else fmt.number(v)


def tornado_png(tornado: Tornado, max_rows: int = 14) -> bytes:
    """Horizontal bars: each input at its low (blue) and high (red), relative to the base."""
    metric = tornado.metric
    rows = [r for r in tornado.rows if r.swing > 0][:max_rows] or tornado.rows[:max_rows]
    base = tornado.base[metric]
    fig = Figure(figsize=(8.5, 0.45 * len(rows) + 1.6))
    ax = fig.add_subplot()
    for i, row in enumerate(reversed(rows)):
        lo, hi = row.at_low[metric] - base, row.at_high[metric] - base
        ax.barh(i, lo, color=_LOW, height=0.6)
        ax.barh(i, hi, color=_HIGH, height=0.6)
        for delta, level in ((lo, row.input.low), (hi, row.input.high)):
            right = delta > 0 or (delta == 0 and level == row.input.high)
            label = f" {fmt.value(level)}" if right else f"{fmt.value(level)} "
            ha = "left" if right else "right"
            ax.text(delta, i, label, ha=ha, va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r.input.label for r in reversed(rows)])
    ax.axvline(0, color="black", linewidth=0.8)
    if metric.endswith("_usd") and metric != "eps_uplift_usd":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.usd(v, 1)))
    ax.set_xlabel(f"change from base {_money(metric, base)} ({metric})")
    ax.set_title(f"Tornado: {_TITLES.get(metric, metric)} (blue: input low, red: input high)")
    ax.margins(x=0.25)
    fig.tight_layout()
    return _png(fig)


def histogram_png(
    mc: MonteCarloResult,
    outputs: tuple[str, ...] = ("revenue_usd", "eps_uplift_usd", "equity_value_usd"),
    base: dict[str, float] | None = None,
) -> bytes:
    """One histogram per output with its P5, P50 and P95 marked, and the base case (the
    scenario as stated) as a red line; money in $B except per-share figures."""
    pct = mc.percentiles()
    outputs = tuple(name for name in outputs if name in pct)
    fig = Figure(figsize=(5 * len(outputs), 3.6))
    for i, name in enumerate(outputs):
        ax = fig.add_subplot(1, len(outputs), i + 1)
        values = mc.samples[name]
        scale = 1e9 if name.endswith("_usd") and name != "eps_uplift_usd" else 1.0
        ax.hist(values / scale, bins=80, color="#88aacc")
        for p, style in (("p5", ":"), ("p50", "-"), ("p95", ":")):
            ax.axvline(pct[name][p] / scale, color="black", linestyle=style, linewidth=1)
        if base is not None and name in base and np.isfinite(base[name]):
            ax.axvline(base[name] / scale, color="#cc3311", linewidth=2, label="base case")
            ax.legend(fontsize=7)
        unit = "$B" if scale == 1e9 else "$"
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _, u=unit: f"{u[0]}{v:,.1f}{u[1:]}"))
        ax.set_xlabel(f"{_TITLES.get(name, name)} ({unit})")
        ax.set_title(
            f"P5 {_money(name, pct[name]['p5'])} · P50 {_money(name, pct[name]['p50'])} · "
            f"P95 {_money(name, pct[name]['p95'])}",
            fontsize=9,
        )
    fig.suptitle(f"Monte Carlo, {mc.draws:,} draws (seed {mc.seed})")
    fig.tight_layout()
    return _png(fig)


def revenue_grid(r: Resolved, prices: np.ndarray, utilizations: np.ndarray) -> np.ndarray:
    """Annual revenue (USD) for every price (rows) x utilisation (columns), one vectorised call."""
    x: dict[str, Any] = dict(r.inputs)
    x["price_per_gpu_hour"] = np.asarray(prices, dtype=np.float64)[:, None]
    x["utilization"] = np.asarray(utilizations, dtype=np.float64)[None, :]
    return np.asarray(annual(x, r.structure)["revenue_usd"])


def heatmap_png(r: Resolved, steps: int = 11) -> bytes:
    """Revenue heat map over price per GPU-hour x billed utilisation around the scenario."""
    price = r.inputs["price_per_gpu_hour"] or 1.0
    prices = np.linspace(0.5 * price, 1.5 * price, steps)
    utils = np.linspace(0.5, 1.0, steps)
    grid = revenue_grid(r, prices, utils) / 1e9
    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(steps), [f"{u:.0%}" for u in utils], fontsize=8)
    ax.set_yticks(range(steps), [f"${p:.2f}" for p in prices], fontsize=8)
    for i in range(steps):
        for j in range(steps):
            ax.text(
                j,
                i,
                f"{grid[i, j]:.1f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if grid[i, j] < grid.mean() else "black",
            )
    ax.set_xlabel("billed utilisation")
    ax.set_ylabel("price per GPU-hour")
    ax.set_title("Annual revenue ($B) by price and utilisation")
    fig.colorbar(image, ax=ax, label="$B per year")
    fig.tight_layout()
    return _png(fig)
