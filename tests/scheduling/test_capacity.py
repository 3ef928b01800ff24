"""The free-capacity index: best fit stays right and its lazy stacks stay bounded under churn."""

from __future__ import annotations

import random

from gigawatt.core.fleet import NodeSpec
from gigawatt.scheduling.capacity import Capacity


def test_best_fit_and_bounded_stacks_under_random_churn() -> None:
    nodes = [NodeSpec(f"n{i}", "s", "H100", 8) for i in range(40)]
    cap = Capacity(nodes, {"s": 1e9}, {"H100": 1.0})
    pool = cap.pools[0]
    rng = random.Random(7)
    held: list[tuple[int, tuple[int, ...]]] = []
    for step in range(20_000):
        gpus = rng.choice((1, 2, 4, 8))
        found = cap.best_node(pool, gpus)
        fits = [cap.node_free[n] for n in range(len(nodes)) if cap.node_free[n] >= gpus]
        # best fit: a node with the fewest free GPUs that still hold the job
        assert (found is None) == (not fits)
        if found is not None:
            node, free = found
            assert cap.node_free[node] == free == min(fits)
            if rng.random() < 0.55:
                held.append((node, cap.take(node, gpus)))
        if held and rng.random() < 0.5:
            node, indices = held.pop(rng.randrange(len(held)))
            # preemptible jobs hold allocated GPUs only (the scheduler also lowers it first)
            left = 8 - cap.node_free[node] - len(indices)
            cap.set_spot(node, min(cap.node_spot[node], left))
            cap.give_back(node, indices)
        if step % 7 == 0:
            node = rng.randrange(len(nodes))
            cap.set_spot(node, rng.randint(0, 8 - cap.node_free[node]))
        for stacks in (pool.buckets, pool.reclaim):
            assert all(len(stack) <= pool.limit for stack in stacks)
    # every node with k reclaimable GPUs is found among the reclaim candidates for k
    for least in range(1, 9):
        want = {n for n in range(len(nodes)) if cap.reclaimable(n) >= least}
        assert set(cap.reclaim_candidates(pool, least)) == want
    assert cap._stamp > 50  # the stacks were compacted many times along the way
    # the free GPU counts add up
    assert cap.free_total == sum(cap.node_free) == 320 - sum(len(i) for _, i in held)
