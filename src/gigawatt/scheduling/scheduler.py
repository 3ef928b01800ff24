"""The scheduler: one pure policy that the live control plane and the twin both drive.

It holds the queue and the allocation state, and a pass (:meth:`Scheduler.schedule`) decides
what starts and what is preempted at time ``now``. It does no I/O and never reads a clock.

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
from gigawatt.scheduling.admission import Admission
from gigawatt.scheduling.backfill import Shadow
from gigawatt.scheduling.capacity import Capacity
from gigawatt.scheduling.model import (
    Decision,
    JobRequest,
    Ordering,
    Placement,
    Preemption,
    SchedulingPolicy,
    Start,
)
from gigawatt.scheduling.preemption import VictimPlan, plan_single_node, plan_whole_nodes
from gigawatt.scheduling.state import INF as _INF
from gigawatt.scheduling.state import PassState as _PassState
from gigawatt.scheduling.state import Running
from gigawatt.scheduling.views import SchedulerViews

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


class Scheduler(SchedulerViews):
    """Queue + allocation state + the scheduling pass. See the module docstring for the policy."""

    def __init__(
        self,
        nodes: Sequence[NodeSpec],
        site_power_kw: Mapping[str, float],
        kw_per_gpu: Mapping[str, float],
        policy: SchedulingPolicy | None = None,
    ) -> None:
        self.policy = policy or SchedulingPolicy()
        self.cap = Capacity(nodes, site_power_kw, kw_per_gpu)
        self.admission = Admission(self.policy, self.cap.total_gpus)
        self._queued: dict[str, JobRequest] = {}
        self._order: list[tuple[tuple[float, ...], str]] = []
        self._seq = 0
        self._running: dict[str, Running] = {}
        #: per node index: {job_id: GPUs of that job on the node} (a list, not a dict by node:
        #: no int boxing or hashing, and no dict made and dropped as a node fills and empties)
        self._node_jobs: list[dict[str, int]] = [{} for _ in range(len(self.cap.node_ids))]
        #: preemptor id -> victims still draining
        self._waiting: dict[str, set[str]] = {}
        self._keys: dict[str, tuple[float, ...]] = {}
        #: (key, job_id) submitted since the last pass
        self._fresh: list[tuple[tuple[float, ...], str]] = []
        #: whether capacity came back (or the queue head went) since the last pass
        self._dirty = True
        self._pass_state: _PassState | None = None
        #: per GPU type: number of queued jobs, and a heap of (max_runtime_s, job id) of them
        self._queued_types: dict[str, int] = {}
        #: per GPU type: {GPUs: number of queued jobs of that size} (no zero counts), for the
        #: smallest queued size a pass may still place
        self._queued_sizes: dict[str, dict[int, int]] = {}
        self._runtimes: dict[str, list[tuple[float, str]]] = {}
        #: per GPU type: heap of (expected end, job id) of running jobs (lazy deletion); absent
        #: (dormant) while no job of the type queues, until a backfill shadow needs it
        self._ends: dict[str, list[tuple[float, str]]] = {}
        #: (GPU type, GPUs, tier) that passed :meth:`check` (the fleet and policy are fixed)
        self._fits: set[tuple[str, int, Tier]] = set()
        #: sites whose power cap is below what all their GPUs draw: power can run out first
        self._power_capped = self._capped_sites()

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

    # -- allocation state ------------------------------------------------------------------
    def restore_running(
        self,
        job: JobRequest,
        placement: Placement,
        started_at: float,
        gpu_indices: Sequence[Sequence[int]] | None = None,
        preempting_for: str | None = None,
    ) -> None:
        """Record a job that already holds GPUs (rebuilding state from the store)."""
        nodes = tuple(self.cap.index_of[node_id] for node_id, _ in placement)
        indices = tuple(
            self.cap.take(n, g, None if gpu_indices is None else gpu_indices[k])
            for k, (n, (_, g)) in enumerate(zip(nodes, placement, strict=True))
        )
        within = job.tier is _RESERVED and self.admission.within_reservation(job)
        run = Running(job, nodes, indices, started_at, preempting_for, within)
        self._attach(run)
        self._dirty = True
        if preempting_for is not None:
            self._waiting.setdefault(preempting_for, set()).add(job.job_id)
            for n in nodes:
                self.cap.held[n] = preempting_for

    def release(self, job_id: str) -> None:
        """The job's allocation ended (finished, failed, cancelled, or preempted and stopped)."""
        run = self._running.get(job_id)  # get and del: primitives in the compiled module, where
        if run is None:  # pop with a default is a generic method call
            return
        del self._running[job_id]
        self._dirty = True
        victim = self._is_victim_run(run)
        node_jobs = self._node_jobs
        # indexed loops, not zip(strict=True): on the hot path of every start and end, and a
        # zip with a keyword is a slow generic call in the compiled module
        for k in range(len(run.nodes)):
            node, idx = run.nodes[k], run.indices[k]
            del node_jobs[node][job_id]
            if victim:
                self.cap.set_spot(node, self.cap.node_spot[node] - len(idx))
            self.cap.give_back(node, idx)
        self.admission.remove(run.job, run.within_reservation)
        if run.draining_for is not None:
            waiting = self._waiting.get(run.draining_for)
            if waiting is not None:
                waiting.discard(job_id)

    def _attach(self, run: Running) -> None:
        job = run.job
        self._running[job.job_id] = run
        end = run.expected_end
        heap = self._ends.get(job.gpu_type)
        if heap is not None and end != _INF:  # a dormant heap is rebuilt when read
            heapq.heappush(heap, (end, job.job_id))
            if len(heap) > 2 * len(self._running) + 64:
                if self._queued_types.get(job.gpu_type, 0):
                    self._compact_ends(heap)
                else:
                    # Nothing of this type waits, so no backfill shadow reads the heap: let it
                    # go dormant rather than compact it. While no queue forms (a fleet that is
                    # not full) the pushes and compactions stop; a shadow rebuilds it at most
                    # once per dormancy, for what a compaction costs.
                    del self._ends[job.gpu_type]
        victim = self._is_victim_run(run)
        node_jobs = self._node_jobs
        for k in range(len(run.nodes)):  # indexed: see release()
            node, gpus = run.nodes[k], len(run.indices[k])
            node_jobs[node][job.job_id] = gpus
            if victim:
                self.cap.set_spot(node, self.cap.node_spot[node] + gpus)
        self.admission.add(job, run.within_reservation)

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

    def _compact_ends(self, heap: list[tuple[float, str]]) -> None:
        """Drop entries of jobs no longer running (or restarted), so the heap stays bounded by
        the running jobs, not by every job ever started."""
        running = self._running
        seen: set[str] = set()
        entries: list[Any] = heap  # plain objects, not rebuilt (see _compact_runtimes)
        kept: list[Any] = []
        for entry in entries:
            job_id = entry[1]
            run = running.get(job_id)
            # a valid entry is the one of the job's current run: one per job
            if run is not None and run.expected_end == entry[0] and job_id not in seen:
                seen.add(job_id)
                kept.append(entry)
        heapq.heapify(kept)
        heap[:] = kept

    def _valid_ends(self, gpu_type: str) -> list[tuple[float, str]]:
        """A heap of (expected end, job id) of the running jobs of ``gpu_type`` (bounded)."""
        heap = []
        for job_id, run in self._running.items():
            if run.job.gpu_type == gpu_type:
                end = run.expected_end
                if end != _INF:
                    heap.append((end, job_id))
        heapq.heapify(heap)
        return heap

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

    @staticmethod
    def _is_victim_run(run: Running) -> bool:
        """Spot and not already draining: may be chosen as a preemption victim."""
        return run.job.tier is _SPOT and run.draining_for is None

    def _is_victim(self, job_id: str) -> bool:
        run = self._running.get(job_id)
        return run is not None and self._is_victim_run(run)

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

    def _may_preempt(self, job: JobRequest) -> bool:
        if self.policy.ordering is not Ordering.PRIORITY:
            return False
        if job.tier is _INTERNAL:
            return True
        return job.tier is _RESERVED and self.admission.within_reservation(job)

    def _place(self, job: JobRequest, holder: str | None = None) -> list[tuple[int, int]] | None:
        """Best-fit placement as ``[(node, gpus)]``, or None. Does not allocate."""
        cap = self.cap
        if cap.free_by_type.get(job.gpu_type, 0) < job.gpus:
            return None
        best: tuple[int, int] | None = None
        for pool in cap.pools_by_type.get(job.gpu_type, ()):
            if not cap.power_fits(pool.site, pool.gpu_type, job.gpus):
                continue
            if (
                self._waiting
                and pool.site in self._power_capped
                and not self._power_left_for_waiting(pool.site, job, holder)
            ):
                continue
            if job.gpus <= pool.per_node:
                found = cap.best_node(pool, job.gpus, holder)
                if found is not None and (best is None or found[1] < best[1]):
                    best = found
                    if found[1] == job.gpus:
                        break
            elif job.gpus % pool.per_node == 0 and best is None:
                nodes = cap.empty_nodes(pool, job.gpus // pool.per_node, holder)
                if nodes is not None:
                    return [(n, pool.per_node) for n in nodes]
        return None if best is None else [(best[0], job.gpus)]

    def _capped_sites(self) -> frozenset[str]:
        cap = self.cap
        full_kw: dict[str, float] = {}
        for pool in cap.pools:
            kw = cap.kw_per_gpu[pool.gpu_type] * pool.per_node * len(pool.nodes)
            full_kw[pool.site] = full_kw.get(pool.site, 0.0) + kw
        return frozenset(s for s, kw in full_kw.items() if cap.site_cap_kw[s] < kw - 1e-6)

    def _power_left_for_waiting(self, site: str, job: JobRequest, holder: str | None) -> bool:
        """Whether ``job`` on ``site`` leaves the site power that preemptors waiting there
        (other than ``holder``) still need once their victims are gone. Without this a job
        started while a preemptor waits can take the power its victims free, and the
        preemptor, unable to start, has more spot work preempted, again and again. Only
        asked for power-capped sites: where the cap covers every GPU, the held nodes are
        enough (and the answer would depend on float rounding of the site's kW sum)."""
        cap = self.cap
        waiting_here = {
            pid for n, pid in cap.held.items() if pid != holder and cap.node_pool[n].site == site
        }
        if not waiting_here:
            return True
        reserved_kw = 0.0
        for pid in sorted(waiting_here):
            waiting = self._queued.get(pid)
            if waiting is None:
                continue
            need = cap.kw_per_gpu[waiting.gpu_type] * waiting.gpus
            draining = sum(
                cap.kw_per_gpu[r.job.gpu_type] * r.job.gpus
                for v in self._waiting.get(pid, ())
                if (r := self._running.get(v)) is not None
            )
            reserved_kw += max(0.0, need - draining)
        kw = cap.kw_per_gpu[job.gpu_type] * job.gpus + reserved_kw
        return cap.site_used_kw[site] + kw <= cap.site_cap_kw[site] + 1e-6

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

    def _launch(self, job: JobRequest, nodes: list[tuple[int, int]], now: float) -> Start:
        """Allocate ``nodes`` to ``job`` and record it running (the queue is the caller's)."""
        cap = self.cap
        if len(nodes) == 1:  # the common case, without generator overhead
            node, gpus = nodes[0]
            indices: tuple[tuple[int, ...], ...] = (cap.take(node, gpus),)
            on: tuple[int, ...] = (node,)
            placement: Placement = ((cap.node_ids[node], gpus),)
        else:
            indices = tuple(cap.take(n, g) for n, g in nodes)
            on = tuple(n for n, _ in nodes)
            placement = tuple((cap.node_ids[n], g) for n, g in nodes)
        within = job.tier is _RESERVED and self.admission.within_reservation(job)
        self._attach(Running(job, on, indices, now, None, within))
        return Start(job, placement)

    def _preempt_for(self, job: JobRequest, decision: Decision) -> bool:
        pools = self.cap.pools_by_type.get(job.gpu_type, [])
        plan: VictimPlan | None
        if any(job.gpus <= p.per_node for p in pools):
            plan = plan_single_node(self.cap, pools, job.gpus, self._spot_on_node)
        else:
            plan = plan_whole_nodes(
                self.cap, pools, job.gpus, self._node_jobs, lambda j: self._running[j].job.gpus
            )
        if plan is None:
            return False
        self._waiting[job.job_id] = set(plan.victims)
        for victim in plan.victims:
            run = self._running[victim]
            for n, idx in zip(run.nodes, run.indices, strict=True):
                self.cap.set_spot(n, self.cap.node_spot[n] - len(idx))
            run.draining_for = job.job_id
            decision.preemptions.append(Preemption(victim, job.job_id))
        for n in plan.nodes:
            self.cap.held[n] = job.job_id
        return True

    def _spot_on_node(self, node: int) -> list[tuple[str, int, int, float]]:
        out = []
        for job_id, gpus in self._node_jobs[node].items():
            if self._is_victim(job_id):
                run = self._running[job_id]
                out.append((job_id, gpus, run.job.gpus, run.started_at))
        return out
