"""What a twin run measured: the JSON summary (stable keys) and the series behind the plots."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from gigawatt.billing.prices import PriceBook
from gigawatt.core.money import ZERO, gpu_seconds_amount, round_cents
from gigawatt.core.tiers import Tier
from gigawatt.sim.rating import gpu_seconds_by_key, rate_totals
from gigawatt.sim.timeline import Timeline, build_timeline
from gigawatt.sim.twin import CANCELLED, FAILED, REJECTED, SUCCEEDED, Twin
from gigawatt.sim.wheels import internal_wheel
from gigawatt.sim.window import Warmup, gpu_seconds_from, window_start_s
from gigawatt.sim.workload import TIERS, FloatArray

#: Keys every JSON result of ``gigawatt simulate`` has (a contract: ``gigawatt value --from-sim``
#: and scripts read them); ``fleet`` and ``external_cap_gpus`` come from ``run.simulate``.
STABLE_KEYS = (
    "jobs",
    "jobs_completed",
    "utilization",
    "mean_jct_s",
    "mean_queue_s",
    "p95_queue_s",
    "preemptions",
    "gpu_hours_by_tier",
    "revenue_usd_by_tier",
    "sim_wall_s",
    "jobs_per_second",
    "warmup_s",
    "measured_s",
    "fleet",
    "external_cap_gpus",
    "external_revenue_usd",
    "external_gpu_hours",
    "internal_gpu_hours",
    "internal_demand_gpu_hours",
    "internal_mean_queue_s",
    "internal_p95_queue_s",
)
EXTERNAL = tuple(t for t in TIERS if t.external)


@dataclass(frozen=True, slots=True)
class SimResult:
    """The summary (:meth:`to_json`), plus per-tier queueing delays and the timeline."""

    summary: Mapping[str, Any]
    queue_s_by_tier: Mapping[Tier, FloatArray]
    timeline: Timeline
    revenue_by_tier: Mapping[Tier, Decimal]
    sites: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready values."""
        return dict(self.summary)


def _stats(values: FloatArray) -> dict[str, float]:
    if len(values) == 0:
        return {"mean": 0.0, "median": 0.0, "p95": 0.0, "p99": 0.0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "mean": float(values.mean()),
        "median": float(p50),
        "p95": float(p95),
        "p99": float(p99),
    }


def _timeline_json(tl: Timeline, fleet_gpus: int, points: int = 100) -> dict[str, Any]:
    """Share of the fleet allocated per tier in at most ``points`` equal intervals."""
    bins = tl.gpus_by_tier.shape[1]
    group = max(1, bins // points) if bins % points == 0 or bins < points else 1
    n = bins // group
    shares = tl.gpus_by_tier[:, : n * group].reshape(len(TIERS), n, group).mean(axis=2)
    shares = shares / max(fleet_gpus, 1)
    return {
        "start_s": float(tl.edges[0]),
        "interval_s": float(tl.edges[group] - tl.edges[0]) if len(tl.edges) > group else 0.0,
        "by_tier": {t.value: [round(float(x), 5) for x in shares[k]] for k, t in enumerate(TIERS)},
    }


def _usd(amount: Decimal) -> float:
    return float(round_cents(amount))


def summarise(
    twin: Twin,
    end_s: float,
    prices: PriceBook,
    *,
    wall_s: float,
    extra: Mapping[str, Any] | None = None,
    bins: int = 400,
    warmup: Warmup = "none",
) -> SimResult:
    """Summarise a finished run (``end_s`` is the virtual time it reached).

    Utilisation, GPU-hours, revenue, energy and the queueing and completion-time figures cover
    the measured window (``warmup``: :mod:`gigawatt.sim.window`): GPU time clipped at its start,
    delays of the jobs submitted in it. Job counts, preemptions, failures, lost work and the
    utilisation timeline cover the whole run.
    """
    w = twin.workload
    n = len(w)
    start_s = float(w.submit_s[0]) if n else 0.0
    end_s = max(end_s, start_s)
    run_s = end_s - start_s
    cut = window_start_s(twin, warmup, start_s, end_s)
    window = end_s - cut
    fleet_gpus = twin.fleet.total_gpus()
    status = np.array(twin.status, dtype=np.int64)
    submit = w.submit_s
    first = np.array(twin.first_start)
    end = np.array(twin.end_s)
    gpus = w.gpus.astype(np.float64)
    in_window = submit >= cut
    # queueing delay: first start - submission; a job that never started (and was not
    # rejected) waited until the end of the run: a censored wait, counted, not left out
    never = np.isnan(first) & (status != REJECTED)
    started = (~np.isnan(first) | never) & in_window
    done_all = status == SUCCEEDED
    done = done_all & in_window
    queue = np.where(never, end_s, first) - submit
    jct = end - submit
    timeline = build_timeline(twin, start_s, end_s, bins)
    measured = timeline if cut == start_s else build_timeline(twin, cut, end_s, 1)

    gpu_s = np.array(twin.gpu_s) if cut == start_s else gpu_seconds_from(twin, cut)
    wait = np.array(twin.wait_s)
    lost = np.array(twin.lost_gpu_s)
    totals = gpu_seconds_by_key(w, gpu_s.tolist())
    revenue = rate_totals(totals, prices)
    capacity_s = fleet_gpus * window
    by_tier: dict[str, dict[str, Any]] = {}
    queue_by_tier: dict[Tier, FloatArray] = {}
    hours: dict[str, float] = {}
    internal_wait_gpu_h = 0.0
    internal_value = ZERO
    for k, tier in enumerate(TIERS):
        mask = w.tier == k
        queue_by_tier[tier] = np.sort(queue[mask & started])
        hours[tier.value] = float(math.fsum(gpu_s[mask])) / 3600.0
        by_tier[tier.value] = {
            "jobs": int(mask.sum()),
            "jobs_completed": int((mask & done_all).sum()),
            "queue_s": _stats(queue[mask & started]),
            "jct_s": _stats(jct[mask & done]),
            "preemptions": int(np.array(twin.preempted)[mask].sum()),
            "lost_gpu_hours": float(lost[mask].sum()) / 3600.0,
        }
        if tier is Tier.INTERNAL:
            waiting = mask & in_window
            internal_wait_gpu_h = float(np.dot(wait[waiting], gpus[waiting])) / 3600.0
            for g, name in enumerate(w.gpu_types):
                sel = waiting & (w.gpu_type == g)
                seconds = float(np.dot(wait[sel], gpus[sel]))
                if seconds:
                    internal_value += gpu_seconds_amount(seconds, prices.price(name, tier))
    all_queue = queue[started]
    q = _stats(all_queue)
    used = float(math.fsum(gpu_s))
    external_used = sum(hours[t.value] for t in EXTERNAL) * 3600.0
    power = {
        name: {
            "mean_it_mw": float(measured.mean_kw_by_site[s]) / 1000.0,
            "peak_it_mw": float(timeline.peak_kw_by_site[s]) / 1000.0,
            "cap_it_mw": twin.fleet.sites[s].it_power_mw,
            "mean_facility_mw": float(measured.mean_kw_by_site[s])
            * twin.fleet.sites[s].pue
            / 1000.0,
        }
        for s, name in enumerate(twin.sites)
    }
    summary: dict[str, Any] = {
        "jobs": n,
        "jobs_completed": int(done_all.sum()),
        "jobs_failed": int((status == FAILED).sum()),
        "jobs_cancelled": int((status == CANCELLED).sum()),
        "jobs_rejected": int((status == REJECTED).sum()),
        "jobs_never_started": int((never & in_window).sum()),
        "utilization": used / capacity_s if capacity_s > 0 else 0.0,
        "billed_utilization": external_used / capacity_s if capacity_s > 0 else 0.0,
        "mean_jct_s": float(jct[done].mean()) if done.any() else 0.0,
        "mean_queue_s": q["mean"],
        "median_queue_s": q["median"],
        "p95_queue_s": q["p95"],
        "p99_queue_s": q["p99"],
        "preemptions": twin.preemptions,
        "failures": int(sum(twin.failures)),
        "gpu_hours_by_tier": hours,
        "revenue_usd_by_tier": {t.value: _usd(revenue[t]) for t in EXTERNAL},
        "revenue_usd_total": _usd(sum((revenue[t] for t in EXTERNAL), ZERO)),
        "internal_showback_usd": _usd(revenue[Tier.INTERNAL]),
        "internal_queue_gpu_hours": internal_wait_gpu_h,
        "internal_opportunity_usd": _usd(internal_value),
        "lost_gpu_hours": float(lost.sum()) / 3600.0,
        "by_tier": by_tier,
        "power_by_site": power,
        "energy_it_mwh": float(measured.mean_kw_by_site.sum()) * window / 3600.0 / 1000.0,
        "fleet_gpus": fleet_gpus,
        "peak_allocated_gpus": timeline.peak_gpus,
        "sim_days": run_s / 86400.0,
        "warmup_s": cut - start_s,
        "measured_s": window,
        "external_gpu_hours": external_used / 3600.0,
        "external_revenue_usd": _usd(sum((revenue[t] for t in EXTERNAL), ZERO)),
        "internal_gpu_hours": hours[Tier.INTERNAL.value],
        **internal_wheel(twin, cut, end_s),
        "events": twin.engine.events_run,
        "scheduling_passes": twin.passes,
        "sim_wall_s": wall_s,
        "jobs_per_second": n / wall_s if wall_s > 0 else 0.0,
    }
    summary["utilization_timeline"] = _timeline_json(timeline, fleet_gpus)
    summary.update(extra or {})
    return SimResult(summary, queue_by_tier, timeline, revenue, tuple(twin.sites))
