"""The streaming twin: same decisions as the exact twin, the same figures (exact sums, percentiles
within the sketch's bound, the window on the grid), and retained state that does not grow with
the number of jobs simulated."""

from __future__ import annotations

import gc
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sim_helpers import CheckingScheduler, two_site_fleet
from test_sim_twin import MIXED

from gigawatt.billing.prices import PriceBook
from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.scheduling.model import SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.sim.charts import dashboard_png
from gigawatt.sim.generator import generate, generate_chunks
from gigawatt.sim.html import render_report
from gigawatt.sim.metrics import summarise
from gigawatt.sim.run import SimOptions, prepare, run, simulate
from gigawatt.sim.sketch import RATIO
from gigawatt.sim.stream import StreamTwin
from gigawatt.sim.stream_metrics import summarise_stream
from gigawatt.sim.twin import FAILED, REJECTED, SUCCEEDED, Twin
from gigawatt.sim.workload_file import parse_workload

DAY = 86_400.0
#: A quantile read from the sketch is within this factor of 1 + the exact quantile.
BOUND = math.sqrt(RATIO) - 1.0 + 1e-12
EXACT_KEYS = (
    "jobs",
    "jobs_completed",
    "jobs_failed",
    "jobs_cancelled",
    "jobs_rejected",
    "jobs_never_started",
    "utilization",
    "billed_utilization",
    "mean_jct_s",
    "mean_queue_s",
    "preemptions",
    "failures",
    "revenue_usd_total",
    "internal_showback_usd",
    "internal_queue_gpu_hours",
    "internal_opportunity_usd",
    "lost_gpu_hours",
    "energy_it_mwh",
    "internal_demand_gpu_hours",
    "internal_jobs_measured",
    "internal_jobs_never_started",
    "internal_mean_queue_s",
    "peak_allocated_gpus",
    "events",
    "scheduling_passes",
)


def _runs(
    catalogue: Catalogue, warmup: Any, days: float = 2.0
) -> tuple[dict[str, Any], dict[str, Any], CheckingScheduler, CheckingScheduler]:
    fleet = two_site_fleet()
    w = generate(parse_workload(MIXED), fleet, catalogue, seed=3, days=days)
    prices = PriceBook.from_catalogue(catalogue)
    a_sched = CheckingScheduler(Scheduler.for_fleet(fleet, catalogue))
    exact = Twin(w, fleet, catalogue, a_sched, seed=0)
    end = exact.run(days * DAY, release_at_end=False)
    a = summarise(exact, end, prices, wall_s=1.0, warmup=warmup).summary
    b_sched = CheckingScheduler(Scheduler.for_fleet(fleet, catalogue))
    fixed = float(w.submit_s[0]) + warmup if isinstance(warmup, float) else None
    stream = StreamTwin(
        [w], fleet, catalogue, b_sched, horizon_s=days * DAY, seed=0, fixed_cut_s=fixed
    )
    end_b = stream.run()
    assert end_b == end
    b = summarise_stream(stream, end_b, prices, wall_s=1.0, warmup=warmup).summary
    return dict(a), dict(b), a_sched, b_sched


def _close_quantile(exact: float, sketch: float) -> bool:
    return abs((1.0 + sketch) / (1.0 + exact) - 1.0) <= BOUND


@pytest.mark.parametrize("warmup", ["none", 3_600.0])
def test_same_decisions_and_figures_as_the_exact_twin(catalogue: Catalogue, warmup: Any) -> None:
    a, b, a_sched, b_sched = _runs(catalogue, warmup)
    assert a_sched.passes == b_sched.passes  # every pass: same time, starts and preemptions
    assert a["preemptions"] > 0 and a["failures"] > 0 and a["jobs_never_started"] > 0
    for key in EXACT_KEYS:
        assert b[key] == pytest.approx(a[key], rel=1e-9, abs=1e-9), key
    for tier, hours in a["gpu_hours_by_tier"].items():
        assert b["gpu_hours_by_tier"][tier] == pytest.approx(hours, rel=1e-9)
        assert b["by_tier"][tier]["jobs"] == a["by_tier"][tier]["jobs"]
        assert b["by_tier"][tier]["preemptions"] == a["by_tier"][tier]["preemptions"]
        for fig in ("queue_s", "jct_s"):
            for q in ("median", "p95", "p99"):
                e, s = a["by_tier"][tier][fig][q], b["by_tier"][tier][fig][q]
                assert _close_quantile(e, s), (tier, fig, q, e, s)
    if warmup == "none":  # with a cut, jobs are selected at the nearest grid edge
        for q in ("median_queue_s", "p95_queue_s", "p99_queue_s", "internal_p95_queue_s"):
            assert _close_quantile(a[q], b[q]), (q, a[q], b[q])
    assert b["revenue_usd_by_tier"] == a["revenue_usd_by_tier"]


def test_auto_window_starts_on_the_grid_edge_before_the_exact_cut(catalogue: Catalogue) -> None:
    a, b, _, _ = _runs(catalogue, "auto")
    bucket = 2 * DAY / 1024
    assert a["warmup_s"] - bucket - 1e-6 <= b["warmup_s"] <= a["warmup_s"] + 1e-6
    assert b["utilization"] == pytest.approx(a["utilization"], rel=1e-3)
    assert b["revenue_usd_total"] == pytest.approx(a["revenue_usd_total"], rel=1e-3)


#: Many short jobs of four tiers on a small fleet (preemptions, failures, checkpoints).
CHURN = {
    "name": "churn",
    "load": 0.8,
    "restart": "checkpoint",
    "failures": {"mtbf_gpu_hours": 5000},
    "classes": [
        {"name": t, "tier": t, "share": 0.25, "tenants": 3, "sizes": {1: 0.7, 8: 0.3},
         "durations": {"lognormal": {"median_s": 600, "sigma": 1.0}}, "diurnal": "flat"}
        for t in ("internal", "reserved", "on_demand", "spot")
    ],
}  # fmt: skip


def _bounded_run(catalogue: Catalogue, days: float) -> dict[str, int]:
    """Sizes of everything a streaming run retains, at the end of a run of ``days``."""
    spec = parse_workload(CHURN)
    fleet = uniform_fleet(64, "H100", catalogue)
    chunks = generate_chunks(spec, fleet, catalogue, seed=1, days=days, chunk_days=0.5)
    sched = Scheduler.for_fleet(fleet, catalogue, SchedulingPolicy())
    twin = StreamTwin(chunks, fleet, catalogue, sched, horizon_s=days * DAY, seed=1, buckets=64)
    peak = {"live": 0, "heap": 0}

    def watch(_: float) -> None:
        peak["live"] = max(peak["live"], twin.in_flight)
        peak["heap"] = max(peak["heap"], len(twin.engine))

    twin.run(progress=watch, progress_every=97)
    grid = twin.grid
    bins = sum(len(h.bins) for rows in grid.hists.values() for row in rows for h in row)
    return {
        "jobs": twin.n,
        "live": peak["live"],
        "heap": peak["heap"],
        "grid": len(grid.net) + len(grid.level_max) + sum(len(v) for v in grid.sums.values()),
        "histogram_bins": bins,
        "late": len(twin.late),
        **sched.heap_sizes(),
    }


def test_retained_state_does_not_grow_with_the_jobs_simulated(catalogue: Catalogue) -> None:
    short, long = _bounded_run(catalogue, 1.0), _bounded_run(catalogue, 4.0)
    assert long["jobs"] > 3.5 * short["jobs"] > 3.5 * 1000
    assert long["grid"] == short["grid"]  # fixed-size accumulators
    # live jobs, pending events, histogram bins, scheduler heaps: bounded, not per job
    for key in ("live", "heap", "ends", "runtimes", "order"):
        assert long[key] <= 1.5 * short[key] + 64, (key, short, long)
    assert 0 < long["live"] < 0.05 * long["jobs"]
    # histograms: one entry per occupied log bin (at most ~930 up to 1e8 s) per coarse bucket
    # and row (9 rows, 64 / 16 coarse buckets), whatever the number of jobs
    assert long["histogram_bins"] <= 9 * 4 * 930


def test_a_run_makes_no_reference_cycles(catalogue: Catalogue) -> None:
    """The streaming run turns the cyclic garbage collector off (gigawatt.sim.run): that is
    safe only while refcounting frees everything it drops. Failures, restarts, preemption,
    reservations and power caps are all in this workload."""
    fleet = two_site_fleet()
    w = generate(parse_workload(MIXED), fleet, catalogue, seed=3, days=2.0)
    sched = Scheduler.for_fleet(fleet, catalogue, SchedulingPolicy())
    twin = StreamTwin(iter([w]), fleet, catalogue, sched, horizon_s=2 * DAY, seed=5)
    gc.collect()
    gc.disable()
    try:
        twin.run()
        assert twin.preemptions > 0 and twin.failures > 0  # those paths ran
        assert gc.collect() == 0  # nothing unreachable was left for the collector
    finally:
        gc.enable()


def test_a_run_without_horizon_doubles_the_grid_and_keeps_the_integral(
    catalogue: Catalogue,
) -> None:
    fleet = uniform_fleet(64, "H100", catalogue)
    w = generate(parse_workload(CHURN), fleet, catalogue, seed=2, days=0.5)
    sched = Scheduler.for_fleet(fleet, catalogue)
    twin = StreamTwin([w], fleet, catalogue, sched, seed=2, buckets=64)
    end = twin.run()
    assert end > float(w.submit_s[-1])  # jobs run past the last arrival: the grid doubled
    assert twin.grid.doublings >= 1 and twin.grid.width > w.span_s / 64
    per_bucket = sum(math.fsum(twin.grid.integrals(s)) for s in range(twin.grid.series))
    assert per_bucket == pytest.approx(math.fsum(twin.gpu_s), rel=1e-9)
    assert twin.counts[SUCCEEDED] + twin.counts[FAILED] + twin.counts[REJECTED] == len(w)


def test_chunks_follow_each_other_and_the_first_is_the_one_day_workload(
    catalogue: Catalogue,
) -> None:
    fleet = two_site_fleet()
    spec = parse_workload(MIXED)
    chunks = list(generate_chunks(spec, fleet, catalogue, seed=7, days=2.5))
    assert len(chunks) == 3
    one_day = generate(spec, fleet, catalogue, seed=7, days=1.0)
    assert np.array_equal(chunks[0].submit_s, one_day.submit_s)
    for a, b in itertools.pairwise(chunks):
        assert float(a.submit_s[-1]) < float(b.submit_s[0])
    assert float(chunks[2].submit_s[-1]) < 2.5 * DAY


def test_a_streaming_run_from_options_has_every_key_and_draws_its_report(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump({**CHURN, "days": 1.5}), encoding="utf-8")
    common = {"workload": path, "gpus": 64, "days": 1.5, "warmup": "auto"}
    streamed = run(SimOptions(**common, stream=True), catalogue)
    exact = run(SimOptions(**common, stream=False), catalogue)
    assert streamed.summary["streaming"] is True and "streaming" not in exact.summary
    assert set(exact.summary) <= set(streamed.summary)
    assert streamed.summary["jobs"] > 1000 and streamed.summary["sim_days"] == 1.5
    html = render_report(streamed)
    assert html.lower().startswith("<!doctype html>") and "data:image/png;base64," in html
    assert dashboard_png(streamed).startswith(b"\x89PNG")


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "exact"])
def test_the_collector_stays_off_until_the_run_is_freed(
    catalogue: Catalogue, tmp_path: Path, stream: bool
) -> None:
    """The collector is off for the whole run (streaming or exact), and back on only once the
    run's objects are freed: switched on while they lived, its first pass walked them all
    (1.7 s after a one-day gigawatt run). So any pass during ``simulate`` finds a near-empty
    young generation (the result), not the scheduler's and the twin's thousands of objects."""
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump({**CHURN, "days": 1.0}), encoding="utf-8")
    options = SimOptions(workload=path, gpus=2048, days=1.0, stream=stream)
    prepared = prepare(options, catalogue)
    young: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            young.append(len(gc.get_objects(generation=0)))

    gc.collect()
    gc.callbacks.append(count)
    try:
        result = simulate(prepared, catalogue, options.scheduling_policy())
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(count)
    assert result.summary.get("streaming", False) is stream and result.summary["jobs"] > 1000
    assert all(n < 500 for n in young), young  # before the fix: a pass over 3,514 objects
