"""Read-only views of the scheduler's state (for the API, metrics, the twin and tests)."""

from __future__ import annotations

from gigawatt.core.tiers import Tier
from gigawatt.scheduling.capacity import Capacity
from gigawatt.scheduling.model import JobRequest, Placement
from gigawatt.scheduling.state import Running


class SchedulerViews:
    """Queries over the queue and the allocations; mixed into :class:`Scheduler`."""

    cap: Capacity
    _queued: dict[str, JobRequest]
    _order: list[tuple[tuple[float, ...], str]]
    _keys: dict[str, tuple[float, ...]]
    _running: dict[str, Running]

    def gpu_indices(self, job_id: str) -> tuple[tuple[int, ...], ...]:
        """Physical GPU indices per node of a running job's placement."""
        return self._running[job_id].indices

    def placement(self, job_id: str) -> Placement:
        """Where a running job runs."""
        run = self._running[job_id]
        return tuple(
            (self.cap.node_ids[n], len(i)) for n, i in zip(run.nodes, run.indices, strict=True)
        )

    def is_queued(self, job_id: str) -> bool:
        """Whether ``job_id`` waits in the queue."""
        return job_id in self._queued

    def is_running(self, job_id: str) -> bool:
        """Whether ``job_id`` holds GPUs."""
        return job_id in self._running

    def request(self, job_id: str) -> JobRequest | None:
        """The queued or running job ``job_id`` as it was submitted (None when unknown)."""
        run = self._running.get(job_id)
        return run.job if run is not None else self._queued.get(job_id)

    def queued_jobs(self) -> list[JobRequest]:
        """Queued jobs in scheduling order."""
        return [self._queued[j] for k, j in self._order if self._keys.get(j) is k]

    def running_jobs(self) -> list[JobRequest]:
        """Jobs holding GPUs."""
        return [r.job for r in self._running.values()]

    def draining_for(self, job_id: str) -> str | None:
        """The preemptor a running victim is draining for, if any."""
        run = self._running.get(job_id)
        return None if run is None else run.draining_for

    @property
    def total_gpus(self) -> int:
        """GPUs in the fleet."""
        return self.cap.total_gpus

    def allocated_gpus(self) -> int:
        """GPUs allocated now."""
        return self.cap.total_gpus - self.cap.free_total

    def free_gpus(self, gpu_type: str | None = None) -> int:
        """Free GPUs (of one type, or all), before power caps."""
        if gpu_type is None:
            return self.cap.free_total
        return self.cap.free_by_type.get(gpu_type, 0)

    def allocated_by(self) -> dict[tuple[Tier, str], int]:
        """Allocated GPUs by (tier, GPU type)."""
        out: dict[tuple[Tier, str], int] = {}
        for run in self._running.values():
            key = (run.job.tier, run.job.gpu_type)
            out[key] = out.get(key, 0) + run.job.gpus
        return out

    def queue_length_by_tier(self) -> dict[Tier, int]:
        """Queued jobs per tier."""
        out = dict.fromkeys(Tier, 0)
        for job in self._queued.values():
            out[job.tier] += 1
        return out

    def site_power_kw(self) -> dict[str, float]:
        """IT power of allocated GPUs per site (catalogue kW per GPU)."""
        return dict(self.cap.site_used_kw)

    def site_power_cap_kw(self) -> dict[str, float]:
        """IT power budget per site."""
        return dict(self.cap.site_cap_kw)
