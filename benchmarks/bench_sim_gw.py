"""Digital twin at gigawatt scale: ``million.yaml`` on a 1 GW H100 fleet (595,232 GPUs), and
the same workload where jobs queue.

Two workloads, each run by the exact twin (every job kept) and by the streaming twin (bounded
memory, the same events and decisions):

- ``no queue``: the file's offered load 0.85 over ``GW_DAYS`` simulated days (default 1): the
  fleet fills up and nothing waits;
- ``queues``: the same file at offered load 1.3 on 50,000 H100 over ``GW_QUEUE_DAYS`` (default
  1) simulated days: the fleet is full after a few hours, then a backlog builds and passes walk
  a queue (a gigawatt fleet takes a day to fill with these 17,000 s jobs).

Printed per run (run + summary, as ``gigawatt simulate`` does): jobs, wall and CPU seconds,
jobs per second, mean queueing delay and utilisation. Peak memory of whole runs is measured
with ``/usr/bin/time -v gigawatt simulate ...`` (docs/benchmarks.md), one process per run.
"""

from __future__ import annotations

import gc
import os
import time
from importlib import resources

import gigawatt
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.scheduling.model import Ordering, SchedulingPolicy
from gigawatt.sim.fleets import fleet_for_power
from gigawatt.sim.generator import generate
from gigawatt.sim.run import Prepared, simulate
from gigawatt.sim.workload_file import load_workload

#: The queueing workload's fleet: small enough that a backlog builds within a day.
QUEUE_GPUS = 50_000


def main() -> None:
    """Print the exact and streaming twins' speed on the two GW workloads."""
    catalogue = default_catalogue()
    fleet = fleet_for_power("1GW", "H100", catalogue)
    with resources.as_file(resources.files("gigawatt.sim").joinpath("workloads/million.yaml")) as p:
        spec = load_workload(p)
    days = float(os.environ.get("GW_DAYS", "1"))
    queue_days = float(os.environ.get("GW_QUEUE_DAYS", "1"))
    policy = SchedulingPolicy(Ordering.PRIORITY)
    print(
        f"workload million.yaml, priority; 1 GW = {fleet.total_gpus():,} H100; "
        f"hot path: {gigawatt.NATIVE_BUILD} (GIGAWATT_PURE=1 for the sources)"
    )
    scenarios = (
        ("no queue", fleet, None, days),
        ("queues", uniform_fleet(QUEUE_GPUS, "H100", catalogue), 1.3, queue_days),
    )
    for name, on, load, span in scenarios:
        w = generate(spec, on, catalogue, seed=1, days=span, load=load)
        horizon = span * 86400.0
        for mode in ("exact", "streaming"):
            gc.collect()
            chunks = None if mode == "exact" else (lambda w=w: iter([w]))
            prepared = Prepared(on, w, horizon, chunks=chunks)
            t0, c0 = time.perf_counter(), time.process_time()
            s = simulate(prepared, catalogue, policy, seed=1).summary
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            print(
                f"{name:9s} {mode:9s} {on.total_gpus():,} GPUs · jobs {len(w):,} · {span:g} d · "
                f"{wall:.1f} s wall, "
                f"{cpu:.1f} s CPU · {len(w) / wall:,.0f} jobs/s ({len(w) / cpu:,.0f} per CPU-s) · "
                f"mean queue {s['mean_queue_s']:,.0f} s · utilisation {s['utilization']:.3f}"
            )
            del s, prepared
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
