"""Small fleets and hand-made workloads for the twin's tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import Decision, JobRequest, Ordering, SchedulingPolicy, Start
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.sim.recording import RecordingScheduler
from gigawatt.sim.twin import Twin
from gigawatt.sim.workload import TIER_CODE, RunSettings, Workload, build_workload

REPO = Path(__file__).resolve().parents[2]


def traces_dir() -> Path:
    """Where the public traces are: ``GIGAWATT_TRACES_DIR`` or ``<repo>/../shared/traces``."""
    return Path(os.environ.get("GIGAWATT_TRACES_DIR") or REPO.parent / "shared" / "traces")


#: (submit_s, duration_s, gpus, tier)
Job = tuple[float, float, int, Tier]


def jobs_workload(jobs: Sequence[Job], settings: RunSettings | None = None) -> Workload:
    """A workload of H100 jobs, one tenant per tier."""
    tiers = [TIER_CODE[j[3]] for j in jobs]
    return build_workload(
        "hand",
        np.array([j[0] for j in jobs], dtype=np.float64),
        np.array([j[1] for j in jobs], dtype=np.float64),
        np.array([j[2] for j in jobs], dtype=np.int64),
        np.array(tiers, dtype=np.int64),
        np.array(tiers, dtype=np.int64),
        ("t-internal", "t-reserved", "t-on_demand", "t-spot"),
        gpu_types=("H100",),
        settings=settings,
    )


def two_site_fleet() -> FleetSpec:
    """Site ``a``: 4x8 H100 under a 30 kW cap (21 GPUs); site ``b``: 2x8 H100 and 1x8 B200."""
    return FleetSpec(
        sites=(
            Site(
                name="a",
                it_power_mw=0.030,
                node_groups=(NodeGroup(name="h", count=4, gpu_type="H100", gpus_per_node=8),),
            ),
            Site(
                name="b",
                it_power_mw=1.0,
                node_groups=(
                    NodeGroup(name="h", count=2, gpu_type="H100", gpus_per_node=8),
                    NodeGroup(name="b", count=1, gpu_type="B200", gpus_per_node=8),
                ),
            ),
        )
    )


class CheckingScheduler(RecordingScheduler):
    """Records, and after every pass checks the allocation against the fleet and power caps."""

    def schedule(self, now: float) -> Decision:
        decision = super().schedule(now)
        self._check()
        return decision

    def offer(self, job: JobRequest, now: float) -> Start | None:
        start = super().offer(job, now)
        self._check()
        return start

    def _check(self) -> None:
        inner = self.inner
        assert inner.allocated_gpus() <= inner.total_gpus
        caps = inner.site_power_cap_kw()
        for site, kw in inner.site_power_kw().items():
            assert kw <= caps[site] + 1e-6, (site, kw, caps[site])


def make_twin(
    workload: Workload,
    fleet: FleetSpec,
    catalogue: Catalogue,
    ordering: Ordering = Ordering.PRIORITY,
    seed: int = 0,
    record_attempts: bool = False,
) -> tuple[Twin, CheckingScheduler]:
    """A twin over a checking, recording wrapper of the live scheduler."""
    sched = CheckingScheduler(
        Scheduler.for_fleet(fleet, catalogue, SchedulingPolicy(ordering=ordering))
    )
    twin = Twin(workload, fleet, catalogue, sched, seed=seed, record_attempts=record_attempts)
    return twin, sched
