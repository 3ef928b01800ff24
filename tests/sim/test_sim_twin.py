"""The twin: conservation of GPU-seconds, caps, terminal states, preemption, failures, horizon."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_helpers import jobs_workload, make_twin, two_site_fleet

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.core.tiers import Tier
from gigawatt.sim.generator import generate
from gigawatt.sim.timeline import build_timeline
from gigawatt.sim.twin import CANCELLED, FAILED, REJECTED, SUCCEEDED, TERMINAL
from gigawatt.sim.workload import Restart, RunSettings
from gigawatt.sim.workload_file import parse_workload

MIXED = {
    "name": "mixed",
    "days": 2,
    "load": 1.3,
    "restart": "checkpoint",
    "checkpoint_interval_s": 600,
    "failures": {"mtbf_gpu_hours": 2000, "max_retries": 1},
    "classes": [
        {
            "name": "in",
            "tier": "internal",
            "share": 0.4,
            "sizes": {1: 0.5, 4: 0.3, 8: 0.2},
            "durations": {"lognormal": {"median_s": 1800, "sigma": 1.0}},
            "diurnal": "philly",
        },
        {
            "name": "res",
            "tier": "reserved",
            "share": 0.2,
            "sizes": {2: 1.0},
            "durations": {"fixed_s": 3000},
            "diurnal": "flat",
        },
        {
            "name": "b200",
            "tier": "on_demand",
            "share": 0.1,
            "gpu_type": "B200",
            "sizes": {1: 0.5, 8: 0.5},
            "durations": "philly",
            "diurnal": "flat",
        },
        {
            "name": "spot",
            "tier": "spot",
            "share": 0.3,
            "sizes": "philly",
            "durations": {"lognormal": {"median_s": 3600, "sigma": 1.5}},
            "diurnal": "flat",
        },
    ],
}


def test_conservation_caps_and_terminal_states(catalogue: Catalogue) -> None:
    fleet = two_site_fleet()
    w = generate(parse_workload(MIXED), fleet, catalogue, seed=3)
    twin, sched = make_twin(w, fleet, catalogue)
    end = twin.run(horizon_s=2 * 86400.0)
    assert twin.preemptions > 0 and sum(twin.failures) > 0  # the run exercises both
    # every job ends in exactly one terminal state, and the scheduler holds nothing
    assert all(s in TERMINAL for s in twin.status)
    counts = [twin.status.count(s) for s in (SUCCEEDED, FAILED, CANCELLED, REJECTED)]
    assert sum(counts) == len(w)
    assert not sched.inner.queued_jobs() and not sched.inner.running_jobs()
    assert twin.allocated == 0 and twin.queued == 0
    # GPU-seconds summed over jobs == integral of allocated GPUs over time
    tl = build_timeline(twin, float(w.submit_s[0]), end)
    assert math.fsum(twin.gpu_s) == pytest.approx(tl.gpu_seconds, rel=1e-9)
    # the allocation never exceeds the fleet nor a site's power cap
    assert tl.peak_gpus <= fleet.total_gpus()
    for s, site in enumerate(fleet.sites):
        assert tl.peak_kw_by_site[s] <= site.it_power_mw * 1000.0 + 1e-6
    # site a's cap (30 kW = 21 H100) binds below its 32 GPUs
    assert tl.peak_kw_by_site[0] > 0.9 * 30.0
    # a job's GPU-seconds are its allocated time: at least its kept work, plus what was lost
    gpus = w.gpus.astype(float)
    done = np.array(twin.status) == SUCCEEDED
    kept_plus_lost = w.duration_s * gpus + np.array(twin.lost_gpu_s)
    assert np.allclose(np.array(twin.gpu_s)[done], kept_plus_lost[done])


def _preempt_case(restart: Restart) -> list[tuple[float, float, int, Tier]]:
    del restart
    return [(0.0, 10_000.0, 8, Tier.SPOT), (3_700.0, 100.0, 8, Tier.INTERNAL)]


@pytest.mark.parametrize(
    ("restart", "spot_end", "lost_s"),
    [
        (Restart.CHECKPOINT, 3_800.0 + 6_400.0, 100.0),
        (Restart.FROM_ZERO, 3_800.0 + 10_000.0, 3_700.0),
    ],
)
def test_preempted_spot_resumes_from_checkpoint_or_zero(
    catalogue: Catalogue, restart: Restart, spot_end: float, lost_s: float
) -> None:
    settings = RunSettings(restart=restart, checkpoint_interval_s=1_800.0)
    w = jobs_workload(_preempt_case(restart), settings)
    fleet = uniform_fleet(8, "H100", catalogue)
    twin, sched = make_twin(w, fleet, catalogue)
    twin.run()
    assert twin.preemptions == 1 and twin.preempted == [1, 0]
    # zero grace: the internal job starts the instant it arrives
    assert twin.first_start[1] == 3_700.0 and twin.end_s[1] == 3_800.0
    assert twin.end_s[0] == spot_end
    assert twin.lost_gpu_s[0] == lost_s * 8
    assert twin.status == [SUCCEEDED, SUCCEEDED]
    # the victim was requeued with its original submission time
    resubmits = [job for call, job in sched.calls if call == "submit" and job.job_id == "0"]
    assert [j.submitted_at for j in resubmits] == [0.0, 0.0]  # type: ignore[attr-defined]


def test_failures_retry_then_fail(catalogue: Catalogue) -> None:
    settings = RunSettings(mtbf_gpu_hours=0.001, max_retries=2)  # a failure every 3.6 s per GPU
    w = jobs_workload([(0.0, 86_400.0, 8, Tier.INTERNAL)], settings)
    twin, _ = make_twin(w, uniform_fleet(8, "H100", catalogue), catalogue)
    twin.run()
    assert twin.status == [FAILED]
    assert twin.failures == [3] and twin.attempt == [3]
    assert twin.gpu_s[0] == pytest.approx(twin.lost_gpu_s[0])


def test_horizon_cancels_what_is_left_and_counts_its_time(catalogue: Catalogue) -> None:
    jobs = [
        (0.0, 500.0, 8, Tier.RESERVED),
        (10.0, 5_000.0, 8, Tier.RESERVED),
        (20.0, 100.0, 8, Tier.RESERVED),
        (30.0, 50.0, 12, Tier.SPOT),
    ]
    w = jobs_workload(jobs)
    twin, sched = make_twin(w, uniform_fleet(8, "H100", catalogue), catalogue)
    end = twin.run(horizon_s=1_000.0)
    assert end == 1_000.0
    assert twin.status == [
        SUCCEEDED,
        CANCELLED,
        CANCELLED,
        REJECTED,
    ]  # 12 GPUs never fit 8-GPU nodes
    assert twin.gpu_s == [4_000.0, 500.0 * 8, 0.0, 0.0]
    assert not sched.inner.running_jobs() and not sched.inner.queued_jobs()


def test_same_seed_same_run(catalogue: Catalogue) -> None:
    fleet = two_site_fleet()
    spec = parse_workload(MIXED)
    runs = []
    for seed in (5, 5, 6):
        w = generate(spec, fleet, catalogue, seed=seed, days=0.5)
        twin, sched = make_twin(w, fleet, catalogue, seed=seed)
        twin.run(horizon_s=0.5 * 86400)
        runs.append((sched.passes, twin.gpu_s, twin.status))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
