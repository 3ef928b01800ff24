"""Digital twin at gigawatt scale: ``million.yaml`` on a 1 GW H100 fleet (595,232 GPUs).

Two workloads, each run by the exact twin (every job kept) and by the streaming twin (bounded
memory, the same events and decisions):

- ``no queue``: the file's offered load 0.85 over ``GW_DAYS`` simulated days (default 1): the
  fleet fills up and nothing waits;
- ``queues``: offered load 1.3 over ``GW_QUEUE_DAYS`` (default half a day): a backlog builds,
  and passes walk a queue.

Printed per run (run + summary, as ``gigawatt simulate`` does): jobs, wall and CPU seconds,
jobs per second, mean queueing delay and utilisation. Peak memory of whole runs is measured
with ``/usr/bin/time -v gigawatt simulate ...`` (docs/benchmarks.md), one process per run.
"""

from __future__ import annotations

import gc
import os
import time
from importlib import resources

from gigawatt.core.catalogue import default_catalogue
from gigawatt.scheduling.model import Ordering, SchedulingPolicy
from gigawatt.sim.fleets import fleet_for_power
from gigawatt.sim.generator import generate
from gigawatt.sim.run import Prepared, simulate
from gigawatt.sim.workload_file import load_workload


def main() -> None:
    """Print the exact and streaming twins' speed on the two GW workloads."""
    catalogue = default_catalogue()
    fleet = fleet_for_power("1GW", "H100", catalogue)
    with resources.as_file(resources.files("gigawatt.sim").joinpath("workloads/million.yaml")) as p:
        spec = load_workload(p)
    days = float(os.environ.get("GW_DAYS", "1"))
    queue_days = float(os.environ.get("GW_QUEUE_DAYS", "0.5"))
    policy = SchedulingPolicy(Ordering.PRIORITY)
    print(f"fleet {fleet.total_gpus():,} H100 (1 GW), workload million.yaml, priority")
    for name, load, span in (("no queue", None, days), ("queues", 1.3, queue_days)):
        w = generate(spec, fleet, catalogue, seed=1, days=span, load=load)
        horizon = span * 86400.0
        for mode in ("exact", "streaming"):
            gc.collect()
            chunks = None if mode == "exact" else (lambda w=w: iter([w]))
            prepared = Prepared(fleet, w, horizon, chunks=chunks)
            t0, c0 = time.perf_counter(), time.process_time()
            s = simulate(prepared, catalogue, policy, seed=1).summary
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            print(
                f"{name:9s} {mode:9s} jobs {len(w):,} · {span:g} d · {wall:.1f} s wall, "
                f"{cpu:.1f} s CPU · {len(w) / wall:,.0f} jobs/s · "
                f"mean queue {s['mean_queue_s']:,.0f} s · utilisation {s['utilization']:.3f}"
            )
            del s, prepared
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
