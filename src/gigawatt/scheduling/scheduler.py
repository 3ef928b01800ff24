"""The scheduler: one pure policy that the live control plane and the twin both drive.

It holds the queue, over the allocations of :mod:`gigawatt.scheduling.allocations`, and a
pass (:meth:`Scheduler.schedule`) decides what starts and what is preempted at time ``now``.
It does no I/O and never reads a clock.

Policy (``Ordering.PRIORITY``, the live one):

- queue order: tier (internal > reserved > on_demand > spot), then ``priority`` (higher first),
  then submission time;
- gang placement: a job of g GPUs goes on one node when g <= GPUs per node, otherwise on
  g / per-node whole nodes of one site, all or nothing; best fit;
- site power caps: allocated GPUs x catalogue kW per GPU never exceed a site's IT budget;
- EASY backfill per GPU type: the first job that cannot start gets a shadow time from the
  ``max_runtime_s`` of running jobs; a later job may start only if it ends before then or fits
  in the GPUs left over at the shadow time (GPU-count level, node fragmentation ignored);
- preemption: internal jobs, and reserved jobs within their tenant's reservation, may preempt
  spot; victims free the fewest GPUs. Victims keep their GPUs until :meth:`release` (the live
  grace period); the preemptor waits with the victims' nodes held for it, and with the site power
  it will need kept from other jobs (else they could take it and preempt again, forever);
- ``internal_floor_gpus``: reserved (beyond reservations) and on-demand sales stop short of the
  GPUs internal work is guaranteed; ``external_cap_gpus`` caps everything sold outside.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import FleetSpec, NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.allocations import Allocations
from gigawatt.scheduling.backfill import Shadow
from gigawatt.scheduling.model import (
    Decision,
    JobRequest,
    Ordering,
    SchedulingPolicy,
    Start,
)
from gigawatt.scheduling.state import INF as _INF
from gigawatt.scheduling.state import PassState as _PassState

_HUGE: Final = 1 << 62
#: An entry of the queue order: (queue key, job id).
_Entry = tuple[tuple[float, ...], str]
# Tiers bound once as constants: enum attribute access is a type lookup in the hot loop, and
# ``Final`` lets the compiled module (mypyc) read them without a globals dict lookup.
_INTERNAL: Final = Tier.INTERNAL
_SPOT: Final = Tier.SPOT
_ON_DEMAND: Final = Tier.ON_DEMAND
_RESERVED: Final = Tier.RESERVED
_RANK: Final = {Tier.INTERNAL: 0.0, Tier.RESERVED: 1.0, Tier.ON_DEMAND: 2.0, Tier.SPOT: 3.0}


class Scheduler(Allocations):
    """The queue and the scheduling pass, over the :class:`Allocations` they change. See the
    module docstring for the policy."""

    def __init__(
        self,
        nodes: Sequence[NodeSpec],
        site_power_kw: Mapping[str, float],
        kw_per_gpu: Mapping[str, float],
        policy: SchedulingPolicy | None = None,
    ) -> None:
        super().__init__(nodes, site_power_kw, kw_per_gpu, policy)
        self._queued: dict[str, JobRequest] = {}
        self._order: list[tuple[tuple[float, ...], str]] = []
        self._seq = 0
        self._keys: dict[str, tuple[float, ...]] = {}
        #: (key, job_id) submitted since the last pass
        self._fresh: list[tuple[tuple[float, ...], str]] = []
        self._pass_state: _PassState | None = None
        #: per GPU type: number of queued jobs, and a heap of (max_runtime_s, job id) of them
        self._queued_types: dict[str, int] = {}
        #: per GPU type: {GPUs: number of queued jobs of that size} (no zero counts), for the
        #: smallest queued size a pass may still place
        self._queued_sizes: dict[str, dict[int, int]] = {}
        self._runtimes: dict[str, list[tuple[float, str]]] = {}
        #: (GPU type, GPUs, tier) that passed :meth:`check` (the fleet and policy are fixed)
        self._fits: set[tuple[str, int, Tier]] = set()

    @classmethod
    def for_fleet(
        cls, fleet: FleetSpec, catalogue: Catalogue, policy: SchedulingPolicy | None = None
    ) -> Scheduler:
        """A scheduler over ``fleet`` with GPU power from ``catalogue``."""
        fleet.validate_against(catalogue)
        types = {g.gpu_type for s in fleet.sites for g in s.node_groups}
        kw = {t: catalogue.get(t).it_kw_per_gpu for t in types}
        sites = {s.name: s.it_power_mw * 1000.0 for s in fleet.sites}
        return cls(fleet.nodes(), sites, kw, policy)

    # -- submission ------------------------------------------------------------------------
    def check(self, job: JobRequest) -> None:
        """Raise :class:`Unschedulable` when ``job`` could never run on this fleet."""
        key = (job.gpu_type, job.gpus, job.tier)
        if key in self._fits:  # the answer depends only on these, the fleet and the policy
            return
        self._check(job)
        self._fits.add(key)

    def _check(self, job: JobRequest) -> None:
        if job.gpus < 1:
            raise Unschedulable(f"a job needs at least 1 GPU, got {job.gpus}")
        pools = self.cap.pools_by_type.get(job.gpu_type)
        if not pools:
            known = ", ".join(sorted(self.cap.pools_by_type)) or "none"
            raise Unschedulable(f"no {job.gpu_type!r} GPUs in this fleet (fleet has: {known})")
        kw = self.cap.kw_per_gpu[job.gpu_type] * job.gpus
        sizes = sorted({p.per_node for p in pools})
        for pool in pools:
            if kw > self.cap.site_cap_kw[pool.site] + 1e-6:
                continue
            if job.gpus <= pool.per_node:
                return self.admission.check(job)
            if job.gpus % pool.per_node == 0 and job.gpus // pool.per_node <= len(pool.nodes):
                return self.admission.check(job)
        uneven = all(job.gpus > s and job.gpus % s for s in sizes)
        if uneven:
            raise Unschedulable(
                f"{job.gpus} GPUs of {job.gpu_type}: a job larger than one node must use whole "
                f"nodes, a multiple of {' or '.join(map(str, sizes))} GPUs"
            )
        largest = max((p.per_node * len(p.nodes), p.site) for p in pools)
        raise Unschedulable(
            f"{job.gpus} GPUs of {job.gpu_type} exceed the largest placement this fleet allows "
            f"({largest[0]} GPUs at site {largest[1]}, within its power budget)"
        )

    def submit(self, job: JobRequest) -> None:
        """Queue ``job`` (validated with :meth:`check`)."""
        if job.job_id in self._queued or job.job_id in self._running:
            raise ValueError(f"job {job.job_id} is already known to the scheduler")
        self.check(job)
        self._queued[job.job_id] = job
        self._seq += 1
        key = self._key(job)
        self._keys[job.job_id] = key
        entry = (key, job.job_id)
        bisect.insort(self._order, entry)
        self._fresh.append(entry)
        self._queued_types[job.gpu_type] = self._queued_types.get(job.gpu_type, 0) + 1
        sizes = self._queued_sizes.get(job.gpu_type)
        if sizes is None:
            sizes = self._queued_sizes[job.gpu_type] = {}
        sizes[job.gpus] = sizes.get(job.gpus, 0) + 1
        runtime = _INF if job.max_runtime_s is None else job.max_runtime_s
        heap = self._runtimes.get(job.gpu_type)
        if heap is None:
            heap = self._runtimes[job.gpu_type] = []
        heapq.heappush(heap, (runtime, job.job_id))
        if len(heap) > 2 * self._queued_types[job.gpu_type] + 64:
            self._compact_runtimes(heap)

    def offer(self, job: JobRequest, now: float) -> Start | None:
        """Submit ``job``, and when nothing else waits and it can be placed at once, start it:
        what :meth:`schedule` at ``now`` would decide right after :meth:`submit` (a pass over
        this job alone), without entering it in the queue's structures first.

        Returns its :class:`Start` (committed, as a pass's starts are), or None: then the job
        is queued exactly as by :meth:`submit`, and the next :meth:`schedule` decides as
        always. For a caller whose pass would consider only this job (the twin, at the end of
        an instant with one arrival): in a fleet that is not full, most jobs start this way.
        """
        state = self._pass_state
        full = self._dirty or state is None
        if (
            self._queued
            or self._waiting
            or job.job_id in self._running
            or (state is not None and not full and not self._memory_empty(state))
        ):
            self.submit(job)  # the pass's own rules (queue order, shadows) decide
            return None
        self.check(job)
        placement = self._place(job) if self.admission.admits(job) else None
        if placement is None:
            self.submit(job)
            return None
        # What the pass would have done besides the start: forget a stale pass memory, and
        # drop what the queue's lazily cleaned structures still hold (nothing is queued).
        if state is None:
            self._pass_state = _PassState()
        elif full:
            state.clear()
        self._dirty = False
        self._seq += 1
        self._fresh = []  # entries of jobs cancelled since the last pass, if any
        if self._order:
            self._order = []
        heap = self._runtimes.get(job.gpu_type)
        if heap:
            heap.clear()
        return self._launch(job, placement, now)

    @staticmethod
    def _memory_empty(state: _PassState) -> bool:
        """Whether the last pass left nothing that binds a new job (no shadow, no failure)."""
        return not (state.shadows or state.failed_fit or state.failed_preempt)

    def _key(self, job: JobRequest) -> tuple[float, ...]:
        ordering = self.policy.ordering
        if ordering is Ordering.FIFO or ordering is Ordering.FIFO_SKIP:
            return (job.submitted_at, self._seq)
        if ordering is Ordering.SJF:
            runtime = _INF if job.max_runtime_s is None else job.max_runtime_s
            return (runtime, job.submitted_at, self._seq)
        return (_RANK[job.tier], -job.priority, job.submitted_at, self._seq)

    def cancel(self, job_id: str) -> bool:
        """Remove a queued job; False when it is not queued."""
        job = self._queued.pop(job_id, None)
        if job is None:
            return False
        self._queued_types[job.gpu_type] -= 1
        self._unqueue_size(job)
        self._keys.pop(job_id, None)
        self._waiting.pop(job_id, None)
        self.cap.release_holds(job_id)
        self._dirty = True
        return True

    # -- queue bookkeeping -----------------------------------------------------------------
    def _compact_runtimes(self, heap: list[tuple[float, str]]) -> None:
        """Drop entries of jobs no longer queued (started or cancelled: lazy deletion leaves
        them while nothing queues behind them), so the heap stays bounded by the queue."""
        queued = self._queued
        seen: set[str] = set()
        # entries read as plain objects: typed as tuples, a compiled loop would unpack each
        # one and build it again to keep it
        entries: list[Any] = heap
        kept: list[Any] = []
        for entry in entries:
            job_id = entry[1]
            if job_id in queued and job_id not in seen:
                seen.add(job_id)
                kept.append(entry)
        # pops come out in the same order however the heap is arranged: heapify (linear)
        # rather than sort (the entries are distinct)
        heapq.heapify(kept)
        heap[:] = kept

    def invalidate(self) -> None:
        """Make the next pass walk the whole queue, as after a release. The live control loop
        calls it when time has moved on since the last pass: the backfill shadows and the
        failed sizes that pass remembered are then recomputed, so the pass decides as one over
        a scheduler rebuilt from the same allocations and queue."""
        self._dirty = True

    def heap_sizes(self) -> dict[str, int]:
        """Entries in the lazily cleaned heaps (``ends``, ``runtimes``) and the queue order:
        bounded by the running and queued jobs, whatever the history (tests, metrics)."""
        return {
            "ends": sum(len(h) for h in self._ends.values()),
            "runtimes": sum(len(h) for h in self._runtimes.values()),
            "order": len(self._order),
        }

    # -- the pass --------------------------------------------------------------------------
    def schedule(self, now: float) -> Decision:
        """Decide what starts and what is preempted at ``now``; starts are committed.

        After a full pass every job left in the queue cannot start until capacity comes back.
        So when nothing was released or cancelled since the last pass (only submissions), the
        pass looks at the new jobs alone, against the state the last pass left; otherwise it
        walks the whole queue.
        """
        decision = Decision()
        state = self._pass_state
        full = self._dirty or state is None
        if full:
            if state is None:
                state = _PassState()
            else:
                state.clear()  # what the last pass learnt no longer holds
            order = self._order
        else:
            order = sorted(self._fresh)
        assert state is not None
        self._dirty = False
        self._fresh = []
        queued = self._queued
        shadows = state.shadows
        priority = self.policy.ordering is Ordering.PRIORITY
        keys = self._keys
        # Entries read as plain objects (typed as tuples, each would be unpacked and built
        # again wherever it is kept). A job started from the queue leaves a stale entry there.
        entries: list[Any] = order
        walked = stale = 0
        #: _all_blocked said no, and no job's turn came since (skips change nothing)
        open_ = False
        for entry in entries:
            walked += 1
            key, job_id = cast(_Entry, entry)
            if keys.get(job_id) is not key:
                stale += 1
                continue  # started or cancelled since (a requeued job has a new entry)
            job = queued[job_id]
            tier = job.tier
            never = tier is _SPOT or tier is _ON_DEMAND
            cannot_preempt = never or not self._may_preempt(job)
            if self.cap.free_total == 0 and cannot_preempt:
                if not priority or never:
                    break  # nothing free and nothing later may preempt
                continue
            if full and (
                cannot_preempt
                or (
                    job.gpus >= state.failed_preempt.get(job.gpu_type, _HUGE)
                    and job_id not in self._waiting
                )
            ):
                # Fast path for the common case in a long queue: blocked by the head's shadow
                # (and no hope of preempting, if it may).
                shadow = shadows.get(job.gpu_type)
                if shadow is not None and job.gpus > shadow.extra:
                    limit = job.max_runtime_s
                    if limit is None or now + limit > shadow.time:
                        if never and not open_:
                            if self._all_blocked(state, now):
                                break  # no later job of any type may start or preempt
                            # the answer holds until a job's turn changes the pass state
                            open_ = True
                        continue
            open_ = False
            self._consider(job, now, state, decision)
        if full and stale and stale * stale * 64 >= len(order):
            self._drop_stale(walked)
        self._pass_state = state
        if not self._queued:
            # every entry is stale: a fleet that never queues would otherwise walk up to 64 of
            # them in each pass that follows a release
            if self._order:
                self._order = []
        elif len(self._order) > 2 * len(self._queued) + 64:  # started/cancelled are skipped
            self._drop_stale(len(self._order))
        return decision

    def _drop_stale(self, walked: int) -> None:
        """Rewrite the first ``walked`` entries of the queue order without stale ones (all of
        them when the order outgrows twice the queue).

        Passes walk the order from its front after every release, so stale entries there
        (jobs started from the queue) would be stepped over again and again: they were 95%
        of the entries walked in a queueing run. Rewriting moves the whole order's tail, so
        it waits until the stale entries are worth it: with ``s`` stale entries walked per
        pass against a tail of ``n`` entries, at ``s * s * 64 >= n`` (a few dozen in a
        queue of tens of thousands)."""
        keys = self._keys
        entries: list[Any] = self._order  # plain objects, not rebuilt (see schedule)
        kept: list[Any] = []
        for k in range(walked):
            entry = entries[k]
            key, job_id = cast(_Entry, entry)
            if keys.get(job_id) is key:
                kept.append(entry)
        entries[:walked] = kept

    def _all_blocked(self, state: _PassState, now: float) -> bool:
        """Whether every GPU type with queued jobs is shut for the rest of the pass (then no
        later job that may not preempt can start): no queued job of the type is small enough
        to be placed (a size at least as large failed this pass), or none is both small
        enough for the GPUs its shadow leaves over and short enough to end before the head
        starts. The smallest queued size and run time bound every queued job's."""
        for gpu_type, count in self._queued_types.items():
            if count == 0 or gpu_type in state.blocked:
                continue
            shadow = state.shadows.get(gpu_type)
            if shadow is None:
                return False
            smallest = min(self._queued_sizes[gpu_type])
            if smallest < state.failed_fit.get(gpu_type, _HUGE):
                if smallest <= shadow.extra:
                    return False
                if self._min_queued_runtime(gpu_type) <= shadow.time - now:
                    return False
            # extra and the failed size only shrink, the smallest queued size only grows, and
            # time stays: blocked for the rest of the pass
            state.blocked.add(gpu_type)
        return True

    def _unqueue_size(self, job: JobRequest) -> None:
        sizes = self._queued_sizes[job.gpu_type]
        left = sizes[job.gpus] - 1
        if left:
            sizes[job.gpus] = left
        else:
            del sizes[job.gpus]

    def _min_queued_runtime(self, gpu_type: str) -> float:
        """A lower bound on ``max_runtime_s`` of queued jobs of ``gpu_type`` (inf if unbounded)."""
        heap = self._runtimes.get(gpu_type, [])
        while heap and heap[0][1] not in self._queued:
            heapq.heappop(heap)
        return heap[0][0] if heap else _INF

    def _consider(
        self,
        job: JobRequest,
        now: float,
        state: _PassState,
        decision: Decision,
    ) -> None:
        """One queued job's turn in a pass."""
        job_id, gpu_type = job.job_id, job.gpu_type
        if job_id in self._waiting:
            if self._waiting[job_id]:
                return  # victims still draining; their nodes are held
            del self._waiting[job_id]
            placement = self._place(job, holder=job_id)
            self.cap.release_holds(job_id)
            if placement is not None:
                self._start(job, placement, now, decision)
                return
        shadow = state.shadows.get(gpu_type)
        key = self._keys[job_id]
        ahead = shadow is not None and key < shadow.head_key  # a newcomer ahead of the head
        guard = None if ahead else shadow
        if not self.admission.admits(job):
            if guard is None and self.policy.ordering is Ordering.FIFO:
                state.shadows[gpu_type] = self._shadow(job, key, now)
            return
        # The shadow guards free GPUs the blocked head job counts on; taking spot GPUs by
        # preemption is still open to jobs that may preempt.
        shadow_ok = guard is None or guard.allows(job, now)
        may_preempt = self._may_preempt(job)
        if not shadow_ok and not may_preempt:
            return
        placement = None
        if shadow_ok and job.gpus < state.failed_fit.get(gpu_type, _HUGE):
            placement = self._place(job)
            if placement is None:
                state.failed_fit[gpu_type] = job.gpus
        if placement is not None:
            if shadow is not None:
                shadow.take(job, now)  # also when ahead: it uses GPUs the head counted on
            self._start(job, placement, now, decision)
            if job.tier is _SPOT and state.failed_preempt:
                self._dirty = True  # new spot work may be a victim for a waiting preemptor
            return
        if may_preempt and job.gpus < state.failed_preempt.get(gpu_type, _HUGE):
            if self._preempt_for(job, decision):
                return
            state.failed_preempt[gpu_type] = job.gpus
        if guard is None:
            state.shadows[gpu_type] = self._shadow(job, key, now)

    def _shadow(self, job: JobRequest, key: tuple[float, ...], now: float) -> Shadow:
        if self.policy.ordering is Ordering.FIFO_SKIP:
            return Shadow(time=_INF, extra=_HUGE, head_key=key)  # skip what cannot fit
        if self.policy.ordering is Ordering.FIFO or not self.policy.backfill:
            return Shadow(time=-_INF, extra=0, head_key=key)  # head-of-line blocking
        if self.policy.ordering is Ordering.SJF:
            return Shadow(time=_INF, extra=_HUGE, head_key=key)  # greedy
        return self._easy_shadow(job, key, now)

    def _easy_shadow(self, job: JobRequest, key: tuple[float, ...], now: float) -> Shadow:
        """EASY backfill's reservation for the blocked head ``job``: the earliest time enough
        GPUs of its type are free by count (now, or the expected end of the running job that
        frees the last of them), and the GPUs left over then (GPU counts: node fragmentation
        ignored, as in the classic EASY scheduler). Running jobs are read from the ends heap
        earliest first, only as many as needed, and put back (a plain loop: a compiled
        generator cost more in its close and throw than in its work)."""
        need = job.gpus
        avail = self.cap.free_by_type[job.gpu_type]
        if avail >= need:
            # Enough GPUs by count but no placement (fragmentation, power, holds): reserve now.
            return Shadow(time=now, extra=avail - need, head_key=key)
        heap = self._ends.get(job.gpu_type)
        if heap is None:  # dormant: rebuilt from the running jobs (what a compaction keeps)
            heap = self._ends[job.gpu_type] = self._valid_ends(job.gpu_type)
        running = self._running
        taken: list[tuple[float, str]] = []
        shadow = None
        while heap:
            entry = heapq.heappop(heap)
            end, job_id = entry
            run = running.get(job_id)
            if run is None or run.expected_end != end:
                continue  # ended, or restarted since: drop the stale entry
            taken.append(entry)
            avail += run.job.gpus
            if avail >= need:
                shadow = Shadow(time=end, extra=avail - need, head_key=key)
                break
        for entry in taken:
            heapq.heappush(heap, entry)
        return shadow if shadow is not None else Shadow(time=_INF, extra=0, head_key=key)

    def _start(
        self,
        job: JobRequest,
        nodes: list[tuple[int, int]],
        now: float,
        decision: Decision,
    ) -> None:
        decision.starts.append(self._launch(job, nodes, now))
        del self._queued[job.job_id]
        left = self._queued_types[job.gpu_type] - 1
        self._queued_types[job.gpu_type] = left
        self._unqueue_size(job)
        if not left:  # every entry of the type's heap is stale: drop them now, not by compaction
            self._runtimes[job.gpu_type].clear()
        del self._keys[job.job_id]
