"""Terminal tables of twin results (rich): one run, and a sweep of scenarios.

A sweep over ``external_cap_gpus`` gets the sell-or-keep columns: what the external (ext.)
wheel earned and what the internal (int.) wheel received, asked and waited in the measured
window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from gigawatt.sim.metrics import SimResult


def _fleet_text(s: Mapping[str, Any]) -> str:
    fleet = s.get("fleet")
    if not isinstance(fleet, Mapping):
        return f"{s['fleet_gpus']:,}"
    return f"{s['fleet_gpus']:,} (mostly {fleet['gpu_type']}, {fleet['it_power_mw']:,.2f} IT MW)"


def print_run(r: SimResult, console: Console) -> None:
    """The single-run tables: summary, by tier, power per site."""
    s = r.summary
    summary = Table(
        title=f"Digital twin: {s['workload']} · policy {s['policy']} · seed {s['seed']}"
    )
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    rows = [
        (
            "jobs (completed / failed / cancelled / rejected)",
            f"{s['jobs']:,} ({s['jobs_completed']:,} / {s['jobs_failed']:,} / "
            f"{s['jobs_cancelled']:,} / {s['jobs_rejected']:,})",
        ),
        ("fleet GPUs", _fleet_text(s)),
        ("simulated days", f"{s['sim_days']:,.2f}"),
        (
            "warm-up excluded / measured hours",
            f"{s['warmup_s'] / 3600:,.2f} / {s['measured_s'] / 3600:,.2f}",
        ),
        ("utilisation (billed)", f"{s['utilization']:.1%} ({s['billed_utilization']:.1%})"),
        (
            "queueing mean / median / P95 / P99 s",
            f"{s['mean_queue_s']:,.0f} / {s['median_queue_s']:,.0f} / {s['p95_queue_s']:,.0f} / "
            f"{s['p99_queue_s']:,.0f}",
        ),
        ("mean job completion time s", f"{s['mean_jct_s']:,.0f}"),
        ("preemptions / failures", f"{s['preemptions']:,} / {s['failures']:,}"),
        ("external revenue USD", f"{s['revenue_usd_total']:,.2f}"),
        (
            "internal queueing GPU-hours (value USD)",
            f"{s['internal_queue_gpu_hours']:,.1f} ({s['internal_opportunity_usd']:,.2f})",
        ),
        ("wall time s (jobs per second)", f"{s['sim_wall_s']:.2f} ({s['jobs_per_second']:,.0f})"),
    ]
    for k, v in rows:
        summary.add_row(k, v)
    console.print(summary)
    tiers = Table(title="By tier")
    for head in (
        "tier",
        "jobs",
        "GPU-hours",
        "revenue USD",
        "queue mean s",
        "P95 s",
        "P99 s",
        "JCT mean s",
        "preempted",
    ):
        tiers.add_column(head, justify="left" if head == "tier" else "right")
    for name, t in s["by_tier"].items():
        revenue = s["revenue_usd_by_tier"].get(name)
        tiers.add_row(
            name,
            f"{t['jobs']:,}",
            f"{s['gpu_hours_by_tier'][name]:,.0f}",
            f"{revenue:,.2f}"
            if revenue is not None
            else f"({s['internal_showback_usd']:,.2f} showback)",
            f"{t['queue_s']['mean']:,.0f}",
            f"{t['queue_s']['p95']:,.0f}",
            f"{t['queue_s']['p99']:,.0f}",
            f"{t['jct_s']['mean']:,.0f}",
            f"{t['preemptions']:,}",
        )
    console.print(tiers)
    power = Table(title="Power per site (IT MW)")
    for head in ("site", "mean", "peak", "cap", "mean facility"):
        power.add_column(head, justify="left" if head == "site" else "right")
    for name, p in s["power_by_site"].items():
        power.add_row(name, *(f"{v:,.3f}" for v in p.values()))
    console.print(power)


def _cap(value: object) -> str:
    return "none" if value is None else f"{value:,}"


_CAP_HEADS = (
    "scenario",
    "ext. cap GPUs",
    "measured h",
    "util.",
    "ext. revenue USD",
    "ext. GPU-h",
    "int. GPU-h",
    "int. demand GPU-h",
    "int. queue mean s",
    "int. P95 s",
)
_HEADS = (
    "scenario",
    "policy",
    "jobs",
    "util.",
    "queue mean s",
    "P95 s",
    "JCT mean s",
    "preempted",
    "revenue USD",
    "internal queue GPU-h",
)


def _cap_row(r: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(r["name"]),
        _cap(r.get("external_cap_gpus")),
        f"{r['measured_s'] / 3600:,.1f}",
        f"{r['utilization']:.1%}",
        f"{r['external_revenue_usd']:,.0f}",
        f"{r['external_gpu_hours']:,.0f}",
        f"{r['internal_gpu_hours']:,.0f}",
        f"{r['internal_demand_gpu_hours']:,.0f}",
        f"{r['internal_mean_queue_s']:,.0f}",
        f"{r['internal_p95_queue_s']:,.0f}",
    )


def _row(r: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(r["name"]),
        str(r["policy"]),
        f"{r['jobs']:,}",
        f"{r['utilization']:.1%}",
        f"{r['mean_queue_s']:,.0f}",
        f"{r['p95_queue_s']:,.0f}",
        f"{r['mean_jct_s']:,.0f}",
        f"{r['preemptions']:,}",
        f"{r['revenue_usd_total']:,.0f}",
        f"{r['internal_queue_gpu_hours']:,.1f}",
    )


def print_sweep(title: str, results: Sequence[Mapping[str, Any]], console: Console) -> None:
    """One row per scenario; sell-or-keep columns when a scenario sets ``external_cap_gpus``."""
    table = Table(title=title)
    by_cap = any(r.get("external_cap_gpus") is not None for r in results)
    for head in _CAP_HEADS if by_cap else _HEADS:
        if head == "scenario":
            table.add_column(head, min_width=min(max(len(str(r["name"])) for r in results), 40))
        else:
            table.add_column(head, justify="left" if head == "policy" else "right")
    for r in results:
        table.add_row(*(_cap_row(r) if by_cap else _row(r)))
    console.print(table)
