"""Digital twin: replay the Philly trace (82,247 jobs) on 2,000 H100 with the priority policy.

The trace's own arrival times (offered load about 0.19 on 2,000 GPUs), run to the last job's
end. Reported: trace loading, the run (scheduler construction, every scheduling pass, the
summary) and jobs per second; best of three runs on one core.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.fleet import uniform_fleet
from gigawatt.scheduling.model import Ordering, SchedulingPolicy
from gigawatt.sim.run import Prepared, simulate
from gigawatt.sim.traces import load_philly

REPO = Path(__file__).resolve().parents[1]
TRACES = Path(os.environ.get("GIGAWATT_TRACES_DIR") or REPO.parent / "shared" / "traces")


def main() -> None:
    """Print load and run times of the Philly replay."""
    path = TRACES / "philly_pollux.csv"
    if not path.is_file():
        print(f"skipped: {path} not found (set GIGAWATT_TRACES_DIR)")
        return
    catalogue = default_catalogue()
    fleet = uniform_fleet(2000, "H100", catalogue)
    t0 = time.perf_counter()
    w = load_philly(path).resolve_gpu_type("H100")
    load_s = time.perf_counter() - t0
    walls, cpus = [], []
    summary: dict[str, object] = {}
    for _ in range(3):
        t1, c1 = time.perf_counter(), time.process_time()
        result = simulate(Prepared(fleet, w, None), catalogue, SchedulingPolicy(Ordering.PRIORITY))
        walls.append(time.perf_counter() - t1)
        cpus.append(time.process_time() - c1)
        summary = dict(result.summary)
    best = min(walls)
    load = w.offered_load(2000)
    print(f"jobs {len(w):,}, fleet 2,000 H100, policy priority, offered load {load:.3f}")
    print(f"trace load: {load_s:.2f} s")
    print(f"run + summary: best {best:.2f} s, runs {', '.join(f'{x:.2f}' for x in walls)} s wall")
    print(f"CPU per run: {', '.join(f'{x:.2f}' for x in cpus)} s")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"load + run: {load_s + best:.2f} s; {len(w) / best:,.0f} jobs/s")
    print(
        f"events {summary['events']:,}, passes {summary['scheduling_passes']:,}, "
        f"utilization {summary['utilization']:.3f}, completed {summary['jobs_completed']:,}"
    )
