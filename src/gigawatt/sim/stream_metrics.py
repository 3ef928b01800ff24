"""The summary of a streaming run (:class:`~gigawatt.sim.stream.StreamTwin`): the same JSON keys
as :func:`gigawatt.sim.metrics.summarise`, read from the run's grid and histograms.

Differences from the exact summary, all bounded (docs/simulator.md, "Streaming runs"):

- the measured window starts on a grid edge: ``auto`` takes the start of the first bucket in
  which the allocation (at the end of an instant) reached 95% of the second half's mean (the
  mean itself interpolated inside the bucket holding the middle of the run); ``SECONDS`` and
  ``none`` are exact (the twin is told the cut before the run: ``fixed_cut_s``);
- percentiles come from log-bin histograms (within 1% of ``1 +`` the exact value, see
  :mod:`gigawatt.sim.sketch`) whose buckets are ``coarse`` grid buckets wide, so the jobs they
  cover start at the nearest coarse edge to the cut; means and counts are exact sums;
- the timeline's 400 bins are interpolated from the grid's cumulative integral.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from gigawatt.billing.prices import PriceBook
from gigawatt.core.money import ZERO, gpu_seconds_amount, round_cents
from gigawatt.core.tiers import Tier
from gigawatt.sim.metrics import EXTERNAL, SimResult, _timeline_json
from gigawatt.sim.rating import rate_totals
from gigawatt.sim.sketch import LogHistogram
from gigawatt.sim.stream import StreamTwin
from gigawatt.sim.timeline import Timeline
from gigawatt.sim.twin import CANCELLED, FAILED, REJECTED, SUCCEEDED
from gigawatt.sim.window import STEADY_SHARE, Warmup
from gigawatt.sim.workload import TIERS, FloatArray

_KEYS = ("tier", "gtype", "site")


def _cumulative(per_bucket: list[float]) -> FloatArray:
    return np.concatenate(([0.0], np.cumsum(np.array(per_bucket, dtype=np.float64))))


def _auto_cut_bucket(twin: StreamTwin, total: FloatArray, start_s: float, end_s: float) -> int:
    """First bucket whose highest end-of-instant level reaches 95% of the second half's mean."""
    grid = twin.grid
    edges = grid.t0 + grid.width * np.arange(grid.size + 1)
    area = _cumulative(total.tolist())
    mid = start_s + (end_s - start_s) / 2.0
    if end_s <= mid:
        return 0
    span = float(np.interp(end_s, edges, area) - np.interp(mid, edges, area))
    mean = span / (end_s - mid)
    if mean <= 0:
        return 0
    reached = np.flatnonzero(np.array(grid.level_max) >= STEADY_SHARE * mean - 1e-9)
    return int(reached[0]) if len(reached) else 0


def _sum_from(row: list[float], b: int) -> float:
    return float(sum(row[b:]))


def summarise_stream(
    twin: StreamTwin,
    end_s: float,
    prices: PriceBook,
    *,
    wall_s: float,
    extra: Mapping[str, Any] | None = None,
    bins: int = 400,
    warmup: Warmup = "none",
) -> SimResult:
    """Summarise a finished streaming run (``end_s``: the virtual time it reached)."""
    grid = twin.grid
    start_s = twin.t0
    end_s = max(end_s, start_s)
    run_s = end_s - start_s
    n_types, n_sites = twin.n_types, twin.n_sites
    series = [(k, g, s) for k in range(len(TIERS)) for g in range(n_types) for s in range(n_sites)]
    per_bucket = np.array([grid.integrals(i) for i in range(len(series))], dtype=np.float64)
    total = per_bucket.sum(axis=0)
    if warmup == "none" or warmup == 0:
        cb, cut = 0, start_s
    elif warmup == "auto":
        cb = _auto_cut_bucket(twin, total, start_s, end_s)
        cut = max(start_s, grid.edge(cb))
    else:
        if warmup >= run_s:
            from gigawatt.core.errors import InvalidInput

            raise InvalidInput(
                f"{warmup:g} s is not shorter than the simulated run ({run_s:g} s)", "warmup"
            )
        cut = start_s + float(warmup)
        cb = 0  # the twin measured only the jobs submitted from the cut on (``fixed_cut_s``)
    window = end_s - cut
    if warmup == "none" or warmup == 0:
        gpu_s = np.array(twin.gpu_s, dtype=np.float64)
    elif warmup == "auto":
        gpu_s = per_bucket[:, cb:].sum(axis=1)
    else:
        gpu_s = np.array(twin.gpu_s_after_cut, dtype=np.float64)
    fleet_gpus = twin.fleet.total_gpus()
    capacity_s = fleet_gpus * window
    totals: dict[tuple[str, Tier], float] = {}
    hours = {t.value: 0.0 for t in TIERS}
    kw_s = np.zeros(n_sites)
    for idx, (k, g, s) in enumerate(series):
        v = float(gpu_s[idx])
        if v:
            key = (twin.type_names[g], TIERS[k])
            totals[key] = totals.get(key, 0.0) + v
        hours[TIERS[k].value] += v / 3600.0
        kw_s[s] += v * twin.kw_per_gpu[g]
    revenue = rate_totals(totals, prices)
    by_tier: dict[str, dict[str, Any]] = {}
    queue_hists: list[LogHistogram] = []
    for k, tier in enumerate(TIERS):
        qh = grid.hist_from("queue", k, cb)
        jh = grid.hist_from("jct", k, cb)
        queue_hists.append(qh)
        qn = _sum_from(grid.row("queue_n", k), cb)
        jn = _sum_from(grid.row("jct_n", k), cb)
        q = qh.stats()
        q["mean"] = _sum_from(grid.row("queue_s", k), cb) / qn if qn else 0.0
        j = jh.stats()
        j["mean"] = _sum_from(grid.row("jct_s", k), cb) / jn if jn else 0.0
        by_tier[tier.value] = {
            "jobs": twin.jobs_by_tier[k],
            "jobs_completed": twin.completed_by_tier[k],
            "queue_s": q,
            "jct_s": j,
            "preemptions": twin.preempted_by_tier[k],
            "lost_gpu_hours": twin.lost_by_tier[k] / 3600.0,
        }
    all_q = LogHistogram.merged(queue_hists).stats()
    q_n = sum(_sum_from(grid.row("queue_n", k), cb) for k in range(len(TIERS)))
    q_s = sum(_sum_from(grid.row("queue_s", k), cb) for k in range(len(TIERS)))
    all_q["mean"] = q_s / q_n if q_n else 0.0
    j_n = sum(_sum_from(grid.row("jct_n", k), cb) for k in range(len(TIERS)))
    j_s = sum(_sum_from(grid.row("jct_s", k), cb) for k in range(len(TIERS)))
    internal_value = ZERO
    internal_wait_gs = 0.0
    for g, name in enumerate(twin.type_names):
        seconds = _sum_from(grid.row("iwait_gs", g), cb)
        internal_wait_gs += seconds
        if seconds:
            internal_value += gpu_seconds_amount(seconds, prices.price(name, Tier.INTERNAL))
    used = float(gpu_s.sum())
    external_used = sum(hours[t.value] for t in EXTERNAL) * 3600.0
    timeline = _timeline(twin, per_bucket, series, start_s, end_s, bins)
    power = {
        name: {
            "mean_it_mw": float(kw_s[s]) / window / 1000.0 if window > 0 else 0.0,
            "peak_it_mw": float(twin.peak_kw[s]) / 1000.0,
            "cap_it_mw": twin.fleet.sites[s].it_power_mw,
            "mean_facility_mw": (float(kw_s[s]) / window if window > 0 else 0.0)
            * twin.fleet.sites[s].pue
            / 1000.0,
        }
        for s, name in enumerate(twin.sites)
    }
    wheel = grid.hist_from("wheel", 0, cb)
    wheel_n = _sum_from(grid.row("wheel_n"), cb)
    demand_s = _sum_from(grid.row("demand_gs"), cb) - twin.late_demand_gs(
        end_s, grid.edge(cb) if cb else start_s
    )
    ext_revenue = sum((revenue[t] for t in EXTERNAL), ZERO)
    summary: dict[str, Any] = {
        "jobs": twin.n,
        "jobs_completed": twin.counts[SUCCEEDED],
        "jobs_failed": twin.counts[FAILED],
        "jobs_cancelled": twin.counts[CANCELLED],
        "jobs_rejected": twin.counts[REJECTED],
        "jobs_never_started": int(_sum_from(grid.row("never_n"), cb)),
        "utilization": used / capacity_s if capacity_s > 0 else 0.0,
        "billed_utilization": external_used / capacity_s if capacity_s > 0 else 0.0,
        "mean_jct_s": j_s / j_n if j_n else 0.0,
        "mean_queue_s": all_q["mean"],
        "median_queue_s": all_q["median"],
        "p95_queue_s": all_q["p95"],
        "p99_queue_s": all_q["p99"],
        "preemptions": twin.preemptions,
        "failures": twin.failures,
        "gpu_hours_by_tier": hours,
        "revenue_usd_by_tier": {t.value: _usd(revenue[t]) for t in EXTERNAL},
        "revenue_usd_total": _usd(ext_revenue),
        "internal_showback_usd": _usd(revenue[Tier.INTERNAL]),
        "internal_queue_gpu_hours": internal_wait_gs / 3600.0,
        "internal_opportunity_usd": _usd(internal_value),
        "lost_gpu_hours": sum(twin.lost_by_tier) / 3600.0,
        "by_tier": by_tier,
        "power_by_site": power,
        "energy_it_mwh": float(kw_s.sum()) / 3600.0 / 1000.0,
        "fleet_gpus": fleet_gpus,
        "peak_allocated_gpus": float(twin.peak_gpus),
        "sim_days": run_s / 86400.0,
        "warmup_s": cut - start_s,
        "measured_s": window,
        "external_gpu_hours": external_used / 3600.0,
        "external_revenue_usd": _usd(ext_revenue),
        "internal_gpu_hours": hours[Tier.INTERNAL.value],
        "internal_demand_gpu_hours": max(demand_s, 0.0) / 3600.0,
        "internal_jobs_measured": int(wheel_n),
        "internal_jobs_never_started": int(_sum_from(grid.row("wheel_never"), cb)),
        "internal_mean_queue_s": _sum_from(grid.row("wheel_s"), cb) / wheel_n if wheel_n else 0.0,
        "internal_p95_queue_s": wheel.quantile(0.95),
        "events": twin.engine.events_run,
        "scheduling_passes": twin.passes,
        "sim_wall_s": wall_s,
        "jobs_per_second": twin.n / wall_s if wall_s > 0 else 0.0,
        "streaming": True,
    }
    summary["utilization_timeline"] = _timeline_json(timeline, fleet_gpus)
    summary.update(extra or {})
    queue_by_tier = {
        tier: np.array(queue_hists[k].cdf_points(), dtype=np.float64)
        for k, tier in enumerate(TIERS)
    }
    return SimResult(summary, queue_by_tier, timeline, revenue, tuple(twin.sites))


def _usd(amount: Decimal) -> float:
    return float(round_cents(amount))


def _timeline(
    twin: StreamTwin,
    per_bucket: FloatArray,
    series: list[tuple[int, int, int]],
    start_s: float,
    end_s: float,
    bins: int,
) -> Timeline:
    """400 equal bins over the run, interpolated from the grid's cumulative integrals."""
    grid = twin.grid
    grid_edges = grid.t0 + grid.width * np.arange(grid.size + 1)
    span = max(end_s - start_s, 1e-9)
    edges = np.linspace(start_s, start_s + span, bins + 1)
    width = np.diff(edges)
    by_tier = np.zeros((len(TIERS), bins))
    totals = np.zeros(len(TIERS))
    by_site = np.zeros((twin.n_sites, bins))
    kw = np.array(twin.kw_per_gpu, dtype=np.float64)
    for idx, (k, g, s) in enumerate(series):
        area = np.interp(edges, grid_edges, _cumulative(per_bucket[idx].tolist()))
        by_tier[k] += np.diff(area) / width
        totals[k] += area[-1] - area[0]
        by_site[s] += np.diff(area) / width * kw[g]
    mean_kw = by_site.mean(axis=1) if bins else np.zeros(twin.n_sites)
    return Timeline(
        edges,
        by_tier,
        by_site,
        totals,
        float(twin.peak_gpus),
        np.array(twin.peak_kw, dtype=np.float64),
        mean_kw,
    )
