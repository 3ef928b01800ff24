"""Print a digest of every scheduler call and decision over a set of rich scenarios.

Run twice, compiled and with ``GIGAWATT_PURE=1``: the two digests must be equal (the compiled
hot path decides exactly as its sources). Scenarios: a generated cloud mix that queues (all
four tiers, spot preemption, multi-node gangs), the same under FIFO-skip and SJF, a power-capped
fleet with a reservation and an external cap, and a run with failures and checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources

import gigawatt
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site, uniform_fleet
from gigawatt.scheduling.model import (
    Decision,
    JobRequest,
    Ordering,
    Reservation,
    SchedulingPolicy,
    Start,
)
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.sim.generator import generate
from gigawatt.sim.stream import StreamTwin
from gigawatt.sim.workload_file import load_workload


class Tracing:
    """Wraps the scheduler and hashes every call and decision in order."""

    def __init__(self, inner: Scheduler) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()
        self.calls = 0

    def _note(self, text: str) -> None:
        self.calls += 1
        self.digest.update(text.encode())

    def submit(self, job: JobRequest) -> None:
        self._note(f"s{job.job_id},{job.tier},{job.gpus},{job.submitted_at!r};")
        self.inner.submit(job)

    def offer(self, job: JobRequest, now: float) -> Start | None:
        start = self.inner.offer(job, now)
        self._note(f"s{job.job_id},{job.tier},{job.gpus},{job.submitted_at!r};")
        if start is not None:
            self._note(f"p{now!r}[{start.job.job_id}@{start.placement}][];")
        return start

    def release(self, job_id: str) -> None:
        self._note(f"r{job_id};")
        self.inner.release(job_id)

    def cancel(self, job_id: str) -> bool:
        self._note(f"c{job_id};")
        return self.inner.cancel(job_id)

    def request(self, job_id: str) -> JobRequest | None:
        return self.inner.request(job_id)  # read-only: not part of the trace

    def running_jobs(self) -> list[JobRequest]:
        return self.inner.running_jobs()

    def queued_jobs(self) -> list[JobRequest]:
        return self.inner.queued_jobs()

    def schedule(self, now: float) -> Decision:
        d = self.inner.schedule(now)
        starts = ",".join(f"{s.job.job_id}@{s.placement}" for s in d.starts)
        stops = ",".join(f"{p.job_id}>{p.for_job_id}" for p in d.preemptions)
        self._note(f"p{now!r}[{starts}][{stops}];")
        return d


def _capped_fleet() -> FleetSpec:
    return FleetSpec(
        sites=(
            Site(
                name="a",
                it_power_mw=0.9,
                node_groups=(NodeGroup(name="h", count=160, gpu_type="H100", gpus_per_node=8),),
            ),
            Site(
                name="b",
                it_power_mw=2.0,
                node_groups=(NodeGroup(name="h", count=96, gpu_type="H100", gpus_per_node=8),),
            ),
        )
    )


def main() -> None:
    """Print ``{"build": ..., "scenarios": {name: [calls, digest]}}`` as JSON."""
    catalogue = default_catalogue()
    files = resources.files("gigawatt.sim").joinpath("workloads")
    with resources.as_file(files.joinpath("million.yaml")) as p:
        million = load_workload(p)
    with resources.as_file(files.joinpath("cloud-mix.yaml")) as p:
        mix = load_workload(p)
    uniform = uniform_fleet(2_000, "H100", catalogue)
    capped = _capped_fleet()
    scenarios = {
        # large enough for backfill shadows to read deep into the running jobs' ends
        "priority-queues": (
            million,
            uniform_fleet(10_000, "H100", catalogue),
            SchedulingPolicy(),
            1.3,
        ),
        "fifo-skip": (million, uniform, SchedulingPolicy(Ordering.FIFO_SKIP), 1.3),
        "sjf": (million, uniform, SchedulingPolicy(Ordering.SJF), 1.3),
        "fifo": (mix, uniform, SchedulingPolicy(Ordering.FIFO), 1.2),
        "capped-reserved": (
            mix,
            capped,
            SchedulingPolicy(
                reservations=(Reservation("reserved-0", "H100", 256),),
                external_cap_gpus=1_400,
                internal_floor_gpus=200,
            ),
            1.4,
        ),
    }
    out: dict[str, list[object]] = {}
    for name, (spec, fleet, policy, load) in scenarios.items():
        w = generate(spec, fleet, catalogue, seed=7, days=1.0, load=load)
        tracing = Tracing(Scheduler.for_fleet(fleet, catalogue, policy))
        twin = StreamTwin(iter([w]), fleet, catalogue, tracing, horizon_s=86400.0, seed=3)
        end = twin.run()
        tracing._note(f"end{end!r},{twin.counts},{twin.preemptions},{twin.failures}")
        out[name] = [tracing.calls, twin.preemptions, twin.failures, tracing.digest.hexdigest()]
    build = getattr(gigawatt, "NATIVE_BUILD", "pure")  # a checkout older than the compiled build
    json.dump({"build": build, "scenarios": out}, sys.stdout)


if __name__ == "__main__":
    main()
