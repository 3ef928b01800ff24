"""One scheduling pass over 10,000 queued jobs on a 500,000-GPU fleet (62,500 nodes x 8 H100).

Two situations: the fleet filled to 90% with running jobs of mixed tiers and sizes (the pass
mostly places jobs), and filled to 100% (the pass mostly searches for spot victims for the
internal and reserved jobs in the queue). Construction and the fill are not timed.
"""

from __future__ import annotations

import random
import time

from gigawatt.core.fleet import NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling import JobRequest, Reservation, Scheduler, SchedulingPolicy

NODES = 62_500
QUEUED = 10_000
SIZES = (1, 1, 1, 1, 2, 4, 8, 8, 16, 64)
TIERS = (Tier.INTERNAL, Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT, Tier.SPOT)
TENANTS = 50


def _job(rng: random.Random, i: int, t: float) -> JobRequest:
    return JobRequest(
        job_id=f"j{i}",
        tenant=f"t{rng.randrange(TENANTS)}",
        tier=rng.choice(TIERS),
        gpu_type="H100",
        gpus=rng.choice(SIZES),
        submitted_at=t,
        max_runtime_s=rng.choice((600.0, 3600.0, 86400.0, None)),
    )


def _filled(fill: float, rng: random.Random) -> tuple[Scheduler, int]:
    nodes = [NodeSpec(f"n{i:05d}", "site", "H100", 8) for i in range(NODES)]
    policy = SchedulingPolicy(
        reservations=tuple(Reservation(f"t{k}", "H100", 2_000) for k in range(TENANTS))
    )
    sched = Scheduler(nodes, {"site": NODES * 8 * 1.4}, {"H100": 1.4}, policy)
    i = 0
    target = int(fill * sched.total_gpus)
    stalled = 0
    while sched.allocated_gpus() < target and stalled < 3:
        before = sched.allocated_gpus()
        for _ in range(max(1, (target - before) // 16)):
            sched.submit(_job(rng, i, 0.0))
            i += 1
        decision = sched.schedule(0.0)
        for p in decision.preemptions:  # keep the fill free of pending preemptions
            sched.release(p.job_id)
        for job in sched.queued_jobs():
            sched.cancel(job.job_id)
        stalled = stalled + 1 if sched.allocated_gpus() == before else 0
    return sched, i


def _one_pass(fill: float) -> None:
    rng = random.Random(42)
    sched, i = _filled(fill, rng)
    filled = sched.allocated_gpus() / sched.total_gpus
    for k in range(QUEUED):
        sched.submit(_job(rng, i + k, 1.0 + k))
    t0 = time.perf_counter()
    decision = sched.schedule(2.0)
    elapsed = time.perf_counter() - t0
    print(
        f"fleet {filled:.1%} full, one pass over {QUEUED:,} queued jobs: {elapsed * 1000:.1f} ms "
        f"({len(decision.starts)} starts, {len(decision.preemptions)} preemptions)"
    )


def main() -> None:
    """Print the single-pass times for a 90%- and a 100%-full fleet."""
    print(f"fleet: {NODES * 8:,} GPUs on {NODES:,} nodes")
    _one_pass(0.9)
    _one_pass(1.0)


if __name__ == "__main__":
    main()
