"""EASY backfill: the first job that cannot start reserves the earliest time it could, and later
jobs start only if they do not delay it.

Accounting is at the level of GPU counts of one type (node fragmentation is ignored, as in the
classic EASY scheduler); expected ends come from ``max_runtime_s`` (unbounded jobs never end).
The scheduler computes a shadow from its heap of running jobs' ends
(:meth:`gigawatt.scheduling.scheduler.Scheduler._easy_shadow`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gigawatt.scheduling.model import JobRequest


@dataclass(slots=True, init=False)
class Shadow:
    """The blocked head job's reservation: its start ``time`` and GPUs left over then."""

    time: float
    extra: int
    #: queue key of the head job; jobs sorting before it are not bound by this shadow
    head_key: tuple[float, ...]

    def __init__(self, time: float, extra: int, head_key: tuple[float, ...] = ()) -> None:
        # explicit: compiled with the module (mypyc), unlike a generated dataclass __init__
        self.time = time
        self.extra = extra
        self.head_key = head_key

    def _ends_before(self, job: JobRequest, now: float) -> bool:
        return job.max_runtime_s is not None and now + job.max_runtime_s <= self.time

    def allows(self, job: JobRequest, now: float) -> bool:
        """Whether ``job`` may start now without delaying the head job."""
        return self._ends_before(job, now) or job.gpus <= self.extra

    def take(self, job: JobRequest, now: float) -> None:
        """Account for ``job`` having started by backfill."""
        if not self._ends_before(job, now):
            self.extra -= job.gpus
