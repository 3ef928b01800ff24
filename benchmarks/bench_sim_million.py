"""Digital twin: about 1,000,000 generated jobs on a 500,000-GPU fleet (62,500 x 8 H100).

Workload ``gigawatt/sim/workloads/million.yaml``: four tenant classes (internal, reserved,
on-demand, spot) with Philly job sizes, log-normal run times (median 17,000 s), offered load
0.85 over one simulated day, priority policy. Reported: generation, the run (scheduler
construction, every pass, the summary) and jobs per second, on one core.
"""

from __future__ import annotations

import os
import time
from importlib import resources

from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.scheduling.model import Ordering, SchedulingPolicy
from gigawatt.sim.generator import generate
from gigawatt.sim.run import Prepared, simulate
from gigawatt.sim.workload_file import load_workload

GPUS = 500_000


def main() -> None:
    """Print generation and run times of the million-job run."""
    catalogue = default_catalogue()
    fleet = uniform_fleet(GPUS, "H100", catalogue)
    with resources.as_file(resources.files("gigawatt.sim").joinpath("workloads/million.yaml")) as p:
        spec = load_workload(p)
    t0 = time.perf_counter()
    w = generate(spec, fleet, catalogue, seed=1)
    gen_s = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    result = simulate(
        Prepared(fleet, w, spec.days * 86400.0), catalogue, SchedulingPolicy(Ordering.PRIORITY)
    )
    run_s = time.perf_counter() - t1
    cpu_s = time.process_time() - c1
    s = result.summary
    print(f"jobs {len(w):,}, fleet {GPUS:,} H100, policy priority, {spec.days:g} day(s)")
    print(f"generate: {gen_s:.2f} s")
    print(f"run + summary: {run_s:.2f} s wall, {cpu_s:.2f} s CPU; {len(w) / run_s:,.0f} jobs/s")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"generate + run: {gen_s + run_s:.2f} s")
    print(
        f"events {s['events']:,}, passes {s['scheduling_passes']:,}, preemptions "
        f"{s['preemptions']:,}, utilization {s['utilization']:.3f}, "
        f"mean queue {s['mean_queue_s']:.0f} s"
    )
