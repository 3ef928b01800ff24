"""One scheduling pass over 10,000 queued jobs on a 500,000-GPU fleet (62,500 nodes x 8 H100).

The fleet is first filled to about 90% with running jobs of mixed tiers and sizes (spot among
them, so internal arrivals exercise preemption), then 10,000 jobs of all tiers are queued and a
single pass is timed. Construction and the fill are reported separately.
"""

from __future__ import annotations

import random
import time

from gigawatt.core.fleet import NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling import JobRequest, Scheduler

NODES = 62_500
QUEUED = 10_000
SIZES = (1, 1, 1, 1, 2, 4, 8, 8, 16, 64)
TIERS = (Tier.INTERNAL, Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT, Tier.SPOT)


def _job(rng: random.Random, i: int, t: float) -> JobRequest:
    return JobRequest(
        job_id=f"j{i}",
        tenant=f"t{rng.randrange(50)}",
        tier=rng.choice(TIERS),
        gpu_type="H100",
        gpus=rng.choice(SIZES),
        submitted_at=t,
        max_runtime_s=rng.choice((600.0, 3600.0, 86400.0, None)),
    )


def main() -> None:
    """Print construction, fill and single-pass times."""
    rng = random.Random(42)
    t0 = time.perf_counter()
    nodes = [NodeSpec(f"n{i:05d}", "site", "H100", 8) for i in range(NODES)]
    sched = Scheduler(nodes, {"site": NODES * 8 * 1.4}, {"H100": 1.4})
    t1 = time.perf_counter()
    i = 0
    target = int(0.9 * sched.total_gpus)
    while sched.allocated_gpus() < target:
        batch = max(1, (target - sched.allocated_gpus()) // 16)
        for _ in range(batch):
            sched.submit(_job(rng, i, 0.0))
            i += 1
        sched.schedule(0.0)
        for job in sched.queued_jobs():
            sched.cancel(job.job_id)
    t2 = time.perf_counter()
    fill = sched.allocated_gpus() / sched.total_gpus
    for k in range(QUEUED):
        sched.submit(_job(rng, i + k, 1.0 + k))
    t3 = time.perf_counter()
    decision = sched.schedule(2.0)
    best = time.perf_counter() - t3
    print(f"fleet: {sched.total_gpus:,} GPUs on {NODES:,} nodes, built in {t1 - t0:.2f} s")
    print(f"fill to {fill:.1%}: {t2 - t1:.2f} s")
    print(
        f"one pass over {QUEUED:,} queued jobs: {best * 1000:.1f} ms "
        f"({len(decision.starts)} starts, {len(decision.preemptions)} preemptions)"
    )


if __name__ == "__main__":
    main()
