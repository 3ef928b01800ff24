"""The scheduler's allocations: which running job holds which GPUs, and how jobs are placed.

:class:`Allocations` is the half of the scheduler that knows the fleet as it is: the running
jobs and the GPUs, nodes and site power they hold, best-fit gang placement under power caps,
and the preemption plans that free GPUs for internal and reserved work. The queue and the
scheduling pass that decide what to place live in :mod:`gigawatt.scheduling.scheduler`, which
builds on this class.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gigawatt.core.fleet import NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.admission import Admission
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
from gigawatt.scheduling.state import Running
from gigawatt.scheduling.views import SchedulerViews

# Tiers bound once as constants (see the scheduler module: no type lookup in compiled code).
_INTERNAL: Final = Tier.INTERNAL
_SPOT: Final = Tier.SPOT
_RESERVED: Final = Tier.RESERVED


class Allocations(SchedulerViews):
    """Running jobs and the GPUs they hold; placement and preemption plans over them.

    Base of :class:`~gigawatt.scheduling.scheduler.Scheduler`, which adds the queue: the two
    attributes of the queue read here are declared below and set by the scheduler.
    """

    #: queued jobs by id (the scheduler's queue)
    _queued: dict[str, JobRequest]
    #: per GPU type: number of queued jobs
    _queued_types: dict[str, int]

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
        self._running: dict[str, Running] = {}
        #: per node index: {job_id: GPUs of that job on the node} (a list, not a dict by node:
        #: no int boxing or hashing, and no dict made and dropped as a node fills and empties)
        self._node_jobs: list[dict[str, int]] = [{} for _ in range(len(self.cap.node_ids))]
        #: preemptor id -> victims still draining
        self._waiting: dict[str, set[str]] = {}
        #: whether capacity came back (or the queue head went) since the last pass
        self._dirty = True
        #: per GPU type: heap of (expected end, job id) of running jobs (lazy deletion); absent
        #: (dormant) while no job of the type queues, until a backfill shadow needs it
        self._ends: dict[str, list[tuple[float, str]]] = {}
        #: sites whose power cap is below what all their GPUs draw: power can run out first
        self._power_capped = self._capped_sites()

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

    @staticmethod
    def _is_victim_run(run: Running) -> bool:
        """Spot and not already draining: may be chosen as a preemption victim."""
        return run.job.tier is _SPOT and run.draining_for is None

    def _is_victim(self, job_id: str) -> bool:
        run = self._running.get(job_id)
        return run is not None and self._is_victim_run(run)

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
