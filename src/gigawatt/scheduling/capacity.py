"""Free-capacity index of the fleet: which GPUs of which node are free, under site power caps.

Nodes are grouped into pools of one (site, GPU type, GPUs per node). Inside a pool, nodes sit in
buckets by free-GPU count so a best-fit node is found in O(GPUs per node) rather than by scanning
the fleet. Buckets are stacks with lazy deletion: an entry is valid only while its node still has
that many free GPUs, stale ones are dropped when met. This module keeps allocation state only;
policy lives in :mod:`gigawatt.scheduling.scheduler`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gigawatt.core.fleet import NodeSpec

# Power comparisons tolerate float rounding of kW sums.
_POWER_EPS_KW: Final = 1e-6


@dataclass(slots=True)
class Pool:
    """Nodes of one site with the same GPU type and GPUs per node."""

    site: str
    gpu_type: str
    per_node: int
    nodes: list[int] = field(default_factory=list)
    #: buckets[f]: stack of node indices that had f free GPUs when pushed (lazy).
    buckets: list[list[int]] = field(default_factory=list)
    #: reclaim[k]: stack of nodes whose free + preemptible GPUs were k when pushed (lazy).
    reclaim: list[list[int]] = field(default_factory=list)

    #: stack length beyond which stale entries are compacted away (amortised O(1))
    limit: int = 64


class Capacity:
    """Per-node free GPUs (as bitmasks of physical indices), per-site power in use, holds."""

    def __init__(
        self,
        nodes: Sequence[NodeSpec],
        site_power_kw: Mapping[str, float],
        kw_per_gpu: Mapping[str, float],
    ) -> None:
        self.node_ids: list[str] = [n.node_id for n in nodes]
        self.index_of: dict[str, int] = {nid: i for i, nid in enumerate(self.node_ids)}
        if len(self.index_of) != len(self.node_ids):
            raise ValueError("node ids must be unique")
        self.site_cap_kw: dict[str, float] = dict(site_power_kw)
        self.site_used_kw: dict[str, float] = {s: 0.0 for s in self.site_cap_kw}
        self.kw_per_gpu: dict[str, float] = dict(kw_per_gpu)
        self.total_gpus_by_type: dict[str, int] = {}
        self.free_by_type: dict[str, int] = {}
        self.pools: list[Pool] = []
        self.pools_by_type: dict[str, list[Pool]] = {}
        self.node_pool: list[Pool] = []
        self.node_total: list[int] = []
        self.node_free: list[int] = []
        self.node_mask: list[int] = []  # bit i set = physical GPU i free
        self.node_spot: list[int] = []  # GPUs held by preemptible jobs
        #: node index -> id of the preemptor the node is held for
        self.held: dict[int, str] = {}
        pool_of: dict[tuple[str, str, int], Pool] = {}
        for i, n in enumerate(nodes):
            if n.site not in self.site_cap_kw:
                raise ValueError(f"node {n.node_id}: unknown site {n.site}")
            if n.gpu_type not in self.kw_per_gpu:
                raise ValueError(f"node {n.node_id}: no power figure for {n.gpu_type}")
            key = (n.site, n.gpu_type, n.gpus)
            pool = pool_of.get(key)
            if pool is None:
                pool = Pool(
                    n.site,
                    n.gpu_type,
                    n.gpus,
                    buckets=[[] for _ in range(n.gpus + 1)],
                    reclaim=[[] for _ in range(n.gpus + 1)],
                )
                pool_of[key] = pool
                self.pools.append(pool)
                self.pools_by_type.setdefault(n.gpu_type, []).append(pool)
            pool.nodes.append(i)
            pool.limit = 2 * len(pool.nodes) + 64
            pool.buckets[n.gpus].append(i)
            self.node_pool.append(pool)
            self.node_total.append(n.gpus)
            self.node_free.append(n.gpus)
            self.node_mask.append((1 << n.gpus) - 1)
            self.node_spot.append(0)
            self.total_gpus_by_type[n.gpu_type] = (
                self.total_gpus_by_type.get(n.gpu_type, 0) + n.gpus
            )
        self.free_by_type = dict(self.total_gpus_by_type)
        #: per node: the last compaction that kept it (see :meth:`_compact`)
        self._seen: list[int] = [0] * len(self.node_ids)
        self._stamp = 0
        self.free_total = sum(self.node_total)
        self.total_gpus = self.free_total

    # -- power ---------------------------------------------------------------------------
    def power_fits(self, site: str, gpu_type: str, gpus: int, freed_gpus: int = 0) -> bool:
        """Whether ``gpus`` more GPUs (after freeing ``freed_gpus``) stay within the site cap."""
        kw = self.kw_per_gpu[gpu_type]
        return self.site_used_kw[site] + kw * (gpus - freed_gpus) <= (
            self.site_cap_kw[site] + _POWER_EPS_KW
        )

    # -- lookup ---------------------------------------------------------------------------
    def _valid(self, node: int, free: int, holder: str | None) -> bool:
        if self.node_free[node] != free:
            return False
        held = self.held
        if not held:  # the common case: no lookup (and no boxed node index) per candidate
            return True
        owner = held.get(node)
        return owner is None or owner == holder

    def best_node(self, pool: Pool, gpus: int, holder: str | None = None) -> tuple[int, int] | None:
        """Best-fit node of ``pool`` with at least ``gpus`` free: ``(node, free)`` or None."""
        for free in range(gpus, pool.per_node + 1):
            stack = pool.buckets[free]
            while stack and self.node_free[stack[-1]] != free:
                stack.pop()
            for pos in range(len(stack) - 1, -1, -1):
                node = stack[pos]
                if self._valid(node, free, holder):
                    return node, free
        return None

    def empty_nodes(self, pool: Pool, count: int, holder: str | None = None) -> list[int] | None:
        """``count`` distinct fully free nodes of ``pool``, or None."""
        stack = pool.buckets[pool.per_node]
        while stack and self.node_free[stack[-1]] != pool.per_node:
            stack.pop()
        found: list[int] = []
        seen: set[int] = set()
        for pos in range(len(stack) - 1, -1, -1):
            node = stack[pos]
            if node not in seen and self._valid(node, pool.per_node, holder):
                seen.add(node)
                found.append(node)
                if len(found) == count:
                    return found
        return None

    # -- mutation -------------------------------------------------------------------------
    def take(self, node: int, gpus: int, indices: Iterable[int] | None = None) -> tuple[int, ...]:
        """Allocate ``gpus`` GPUs on ``node`` (lowest free indices unless given); return indices."""
        mask = self.node_mask[node]
        if indices is None:
            if self.node_free[node] < gpus:
                raise ValueError(f"node {self.node_ids[node]} has fewer than {gpus} free GPUs")
            chosen: list[int] = []
            b = 0
            # lowest free GPU index first: a shift and a test per index (int.bit_length would
            # be a generic method call in the compiled module)
            while len(chosen) < gpus:
                bit = 1 << b
                if mask & bit:
                    chosen.append(b)
                    mask ^= bit  # what is left free
                b += 1
        else:
            chosen = list(indices)
            if len(chosen) != gpus or any(not (mask >> b & 1) for b in chosen):
                raise ValueError(f"GPUs {chosen} of node {self.node_ids[node]} are not free")
            for b in chosen:
                mask &= ~(1 << b)
        self._set_free(node, self.node_free[node] - gpus, mask)
        pool = self.node_pool[node]
        # x = x + y, not x += y: an augmented item assignment is a generic call, compiled
        site, gpu_type = pool.site, pool.gpu_type
        self.site_used_kw[site] = self.site_used_kw[site] + self.kw_per_gpu[gpu_type] * gpus
        self.free_by_type[gpu_type] = self.free_by_type[gpu_type] - gpus
        self.free_total -= gpus
        return tuple(chosen)

    def give_back(self, node: int, indices: tuple[int, ...]) -> None:
        """Free the given physical GPUs of ``node``."""
        mask = self.node_mask[node]
        for b in indices:
            mask |= 1 << b
        gpus = len(indices)
        self._set_free(node, self.node_free[node] + gpus, mask)
        pool = self.node_pool[node]
        used = self.site_used_kw[pool.site] - self.kw_per_gpu[pool.gpu_type] * gpus
        self.site_used_kw[pool.site] = max(0.0, used)
        self.free_by_type[pool.gpu_type] = self.free_by_type[pool.gpu_type] + gpus
        self.free_total += gpus

    def reclaimable(self, node: int) -> int:
        """GPUs of ``node`` that are free or held by preemptible jobs."""
        return self.node_free[node] + self.node_spot[node]

    def set_spot(self, node: int, gpus: int) -> None:
        """Record how many GPUs of ``node`` preemptible jobs hold."""
        if self.node_spot[node] != gpus:
            self.node_spot[node] = gpus
            self._push_reclaim(self.node_pool[node], node, self.node_free[node] + gpus)

    def most_free_below(self, pool: Pool, gpus: int) -> int:
        """The most free GPUs on any node of ``pool`` that has fewer than ``gpus`` free."""
        for free in range(min(gpus, pool.per_node + 1) - 1, 0, -1):
            stack = pool.buckets[free]
            while stack and self.node_free[stack[-1]] != free:
                stack.pop()
            if stack:
                return free
        return 0

    def reclaim_candidates(self, pool: Pool, least: int) -> Iterator[int]:
        """Nodes of ``pool`` with at least ``least`` reclaimable GPUs, fewest first (not held)."""
        for k in range(least, pool.per_node + 1):
            stack = pool.reclaim[k]
            while stack and self.reclaimable(stack[-1]) != k:
                stack.pop()
            for pos in range(len(stack) - 1, -1, -1):
                node = stack[pos]
                if self.reclaimable(node) == k and node not in self.held:
                    yield node

    def _set_free(self, node: int, free: int, mask: int) -> None:
        # Hot path of every start and release: the pushes are inlined, compaction is rare.
        self.node_free[node] = free
        self.node_mask[node] = mask
        pool = self.node_pool[node]
        limit = pool.limit
        stack = pool.buckets[free]
        stack.append(node)
        if len(stack) > limit:
            self._compact(stack, free, self.node_free, None)
        self._push_reclaim(pool, node, free + self.node_spot[node])

    def _push_reclaim(self, pool: Pool, node: int, value: int) -> None:
        """Push ``node`` on the reclaim stack of ``value`` (free + preemptible GPUs)."""
        stack = pool.reclaim[value]
        stack.append(node)
        if len(stack) > pool.limit:
            self._compact(stack, value, self.node_free, self.node_spot)

    def _compact(
        self, stack: list[int], value: int, first: list[int], second: list[int] | None
    ) -> None:
        """Keep one valid entry per node (order kept, newest on top): an entry is valid while
        ``first[node]`` (plus ``second[node]`` when given) is still ``value``.

        Runs once per ``limit`` pushes on a stack (amortised O(1) per push), over up to twice
        a pool's nodes: the values are read from the lists directly and the nodes already kept
        are marked with a per-compaction stamp (no callback, no set), as the loop is the
        costliest part of a start or release on a full gigawatt fleet.
        """
        self._stamp += 1
        stamp = self._stamp
        seen = self._seen
        fresh: list[int] = []
        for pos in range(len(stack) - 1, -1, -1):
            n = stack[pos]
            current = first[n] if second is None else first[n] + second[n]
            if current == value and seen[n] != stamp:
                seen[n] = stamp
                fresh.append(n)
        fresh.reverse()
        stack[:] = fresh

    def release_holds(self, holder: str) -> None:
        """Drop every hold of ``holder``."""
        for node in [n for n, h in self.held.items() if h == holder]:
            del self.held[node]
