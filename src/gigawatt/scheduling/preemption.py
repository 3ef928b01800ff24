"""Choosing spot victims so that a higher-priority job can run, freeing the fewest GPUs.

Only running, non-draining spot jobs are candidates. A single-node job looks for the node where
the cheapest set of spot jobs (by GPUs freed, then by how recently they started) makes room; a
multi-node gang takes the whole nodes that are cheapest to empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Final

from gigawatt.scheduling.capacity import Capacity, Pool

#: Above this many jobs on one node, victims are chosen greedily instead of exhaustively.
_EXACT_LIMIT: Final = 10
#: How many feasible nodes a victim search compares before taking the best found so far.
MAX_CANDIDATES: Final = 16


@dataclass(frozen=True, slots=True)
class VictimPlan:
    """Which spot jobs to stop, and on which nodes the preemptor will then run."""

    victims: tuple[str, ...]
    nodes: tuple[int, ...]
    freed_gpus: int


def _cheapest_subset(
    jobs: list[tuple[str, int, int, float]], need: int
) -> tuple[int, float, tuple[str, ...]] | None:
    """Smallest total GPUs (then fewest jobs, then youngest) among ``jobs`` freeing ``need`` here.

    ``jobs`` holds ``(job_id, gpus_on_this_node, total_gpus_of_job, started_at)``.
    """
    for job in jobs:  # one job freeing exactly what is missing cannot be beaten
        if job[1] >= need and job[2] == need:
            return need, -job[3], (job[0],)
    if len(jobs) > _EXACT_LIMIT:
        return _greedy_subset(jobs, need)
    best: tuple[int, int, float, tuple[str, ...]] | None = None
    # Few jobs share one node (at most its GPU count), so exhaustive search is cheap and exact.
    for size in range(1, len(jobs) + 1):
        for combo in combinations(jobs, size):
            if sum(j[1] for j in combo) < need:
                continue
            key = (
                sum(j[2] for j in combo),
                size,
                -min(j[3] for j in combo),
                tuple(j[0] for j in combo),
            )
            if best is None or key[:3] < best[:3]:
                best = key
    return None if best is None else (best[0], best[2], best[3])


def _greedy_subset(
    jobs: list[tuple[str, int, int, float]], need: int
) -> tuple[int, float, tuple[str, ...]] | None:
    """Approximation for nodes with many jobs: take the jobs cheapest per GPU freed here."""
    chosen: list[tuple[str, int, int, float]] = []
    freed = 0
    for job in sorted(jobs, key=lambda j: (j[2] / j[1], -j[3])):
        chosen.append(job)
        freed += job[1]
        if freed >= need:
            return (
                sum(j[2] for j in chosen),
                -min(j[3] for j in chosen),
                tuple(j[0] for j in chosen),
            )
    return None


def plan_single_node(
    cap: Capacity,
    pools: list[Pool],
    gpus: int,
    spot_on_node: Callable[[int], list[tuple[str, int, int, float]]],
) -> VictimPlan | None:
    """Victims on one node so that ``gpus`` GPUs become free there (within the site's power).

    Nodes are considered tightest first (fewest free + preemptible GPUs); the plan freeing the
    fewest GPUs among the first :data:`MAX_CANDIDATES` feasible nodes wins.
    """
    best: VictimPlan | None = None
    best_key: tuple[int, float] | None = None
    examined = 0
    for pool in pools:
        if gpus > pool.per_node:
            continue
        # No plan in this pool can free fewer GPUs than are missing on its emptiest node.
        least = gpus - cap.most_free_below(pool, gpus)
        for node in cap.reclaim_candidates(pool, gpus):
            need = gpus - cap.node_free[node]
            if need <= 0:
                continue  # free already; the site lacks power, which preemption here won't fix
            found = _cheapest_subset(spot_on_node(node), need)
            if found is None:
                continue
            cost, age, victims = found
            if not cap.power_fits(pool.site, pool.gpu_type, gpus, freed_gpus=cost):
                continue
            examined += 1
            if best_key is None or (cost, age) < best_key:
                best_key = (cost, age)
                best = VictimPlan(victims, (node,), cost)
            if cost <= least or examined >= MAX_CANDIDATES:
                return best
    return best


def plan_whole_nodes(
    cap: Capacity,
    pools: list[Pool],
    gpus: int,
    node_jobs: Sequence[Mapping[str, int]],
    job_gpus: Callable[[str], int],
) -> VictimPlan | None:
    """Whole nodes for a gang, emptied of spot jobs at the lowest total of GPUs freed."""
    best: VictimPlan | None = None
    for pool in pools:
        if gpus % pool.per_node or gpus < pool.per_node:
            continue
        count = gpus // pool.per_node
        if count > len(pool.nodes):
            continue
        # Fully reclaimable nodes (free or spot only); empty ones cost nothing.
        candidates: list[tuple[int, int, frozenset[str]]] = []
        for node in cap.reclaim_candidates(pool, pool.per_node):
            victims = frozenset(node_jobs[node])
            candidates.append((sum(job_gpus(j) for j in victims), node, victims))
            if len(candidates) >= count + MAX_CANDIDATES:
                break
        if len(candidates) < count:
            continue
        candidates.sort(key=lambda c: (c[0], c[1]))
        chosen = candidates[:count]
        victims_all: set[str] = set().union(*(c[2] for c in chosen))
        if not victims_all:
            continue  # enough empty nodes: placement failed for power, preemption won't help
        freed = sum(job_gpus(j) for j in victims_all)
        if not cap.power_fits(pool.site, pool.gpu_type, gpus, freed_gpus=freed):
            continue
        plan = VictimPlan(tuple(sorted(victims_all)), tuple(c[1] for c in chosen), freed)
        if best is None or plan.freed_gpus < best.freed_gpus:
            best = plan
    return best
