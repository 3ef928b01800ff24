"""PNG charts of a twin run (matplotlib Agg canvas, no pyplot state); each returns PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gigawatt.core.tiers import Tier
from gigawatt.sim.metrics import SimResult
from gigawatt.sim.workload import TIERS

COLOURS = {
    Tier.INTERNAL: "#4477aa",
    Tier.RESERVED: "#228833",
    Tier.ON_DEMAND: "#ccbb44",
    Tier.SPOT: "#ee6677",
}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _utilisation(ax: Axes, r: SimResult) -> None:
    tl = r.timeline
    fleet = float(r.summary["fleet_gpus"]) or 1.0
    days = (tl.edges[:-1] + np.diff(tl.edges) / 2 - tl.edges[0]) / 86400.0
    ax.stackplot(
        days,
        tl.gpus_by_tier / fleet * 100.0,
        labels=[t.value for t in TIERS],
        colors=[COLOURS[t] for t in TIERS],
        step="mid",
    )
    ax.set_ylim(0, 100)
    ax.set_xlabel("days")
    ax.set_ylabel("% of fleet GPUs allocated")
    warmup_s = float(r.summary.get("warmup_s", 0.0))
    if warmup_s > 0:
        ax.axvspan(0, warmup_s / 86400.0, color="grey", alpha=0.25, label="warm-up (excluded)")
    ax.set_title(f"Utilisation by tier (measured window: mean {r.summary['utilization']:.1%})")
    ax.legend(loc="upper right", fontsize=8)


def _queue_cdf(ax: Axes, r: SimResult) -> None:
    for tier in TIERS:
        q = r.queue_s_by_tier.get(tier)
        if q is None or len(q) == 0:
            continue
        y = np.arange(1, len(q) + 1) / len(q)
        ax.step(np.maximum(q, 1.0), y, where="post", color=COLOURS[tier], label=tier.value)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("queueing delay, seconds (delays under 1 s drawn at 1 s)")
    ax.set_ylabel("share of jobs")
    ax.set_title("Queueing delay CDF by tier")
    ax.legend(loc="lower right", fontsize=8)


def _revenue(ax: Axes, r: SimResult) -> None:
    names = [t.value for t in TIERS]
    values = [float(r.revenue_by_tier.get(t, 0)) for t in TIERS]
    bars = ax.bar(names, values, color=[COLOURS[t] for t in TIERS])
    bars[0].set_hatch("//")
    bars[0].set_alpha(0.5)
    for bar, v in zip(bars, values, strict=True):
        ax.text(
            bar.get_x() + bar.get_width() / 2, v, f"${v:,.0f}", ha="center", va="bottom", fontsize=8
        )
    ax.set_ylabel("USD")
    ax.set_title("Revenue by tier (internal: showback, not revenue)")


def _power(ax: Axes, r: SimResult) -> None:
    tl = r.timeline
    days = (tl.edges[:-1] + np.diff(tl.edges) / 2 - tl.edges[0]) / 86400.0
    for s, name in enumerate(r.sites):
        ax.plot(days, tl.kw_by_site[s] / 1000.0, label=f"{name}")
        cap = r.summary["power_by_site"][name]["cap_it_mw"]
        ax.axhline(cap, linestyle="--", linewidth=0.8, color="grey")
    ax.set_xlabel("days")
    ax.set_ylabel("IT MW")
    ax.set_title("IT power drawn per site (dashed: site cap)")
    ax.legend(loc="upper right", fontsize=8)


def utilisation_png(r: SimResult) -> bytes:
    """Allocated GPUs as a share of the fleet over time, stacked by tier."""
    fig = Figure(figsize=(9, 4))
    _utilisation(fig.add_subplot(), r)
    return _png(fig)


def queue_cdf_png(r: SimResult) -> bytes:
    """Cumulative distribution of queueing delay, one line per tier."""
    fig = Figure(figsize=(9, 4))
    _queue_cdf(fig.add_subplot(), r)
    return _png(fig)


def revenue_png(r: SimResult) -> bytes:
    """Revenue by tier (internal work shown at its showback value, hatched)."""
    fig = Figure(figsize=(7, 4))
    _revenue(fig.add_subplot(), r)
    return _png(fig)


def power_png(r: SimResult) -> bytes:
    """IT power per site over time with the site caps."""
    fig = Figure(figsize=(9, 3.5))
    _power(fig.add_subplot(), r)
    return _png(fig)


def dashboard_png(r: SimResult) -> bytes:
    """The four charts on one image (``--plot``)."""
    fig = Figure(figsize=(15, 9))
    axes = fig.subplots(2, 2)
    _utilisation(axes[0][0], r)
    _queue_cdf(axes[0][1], r)
    _revenue(axes[1][0], r)
    _power(axes[1][1], r)
    fig.suptitle(
        f"Digital twin: {r.summary.get('workload', '')}, policy {r.summary.get('policy', '')}"
    )
    fig.tight_layout()
    return _png(fig)
