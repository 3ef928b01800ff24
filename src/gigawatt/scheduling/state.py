"""Mutable bookkeeping records of the scheduler: running allocations and per-pass memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from gigawatt.scheduling.backfill import Shadow
from gigawatt.scheduling.model import JobRequest

INF = float("inf")


@dataclass(slots=True)
class PassState:
    """What a pass learnt, kept for the next incremental pass (valid while capacity only
    shrinks): the blocked head job's shadow per GPU type and the smallest sizes that failed."""

    shadows: dict[str, Shadow] = field(default_factory=dict)
    failed_fit: dict[str, int] = field(default_factory=dict)
    failed_preempt: dict[str, int] = field(default_factory=dict)
    #: GPU types on which no further non-preempting job can start in this pass
    blocked: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Running:
    """A job holding GPUs."""

    job: JobRequest
    nodes: tuple[int, ...]
    indices: tuple[tuple[int, ...], ...]
    started_at: float
    draining_for: str | None = None
    #: counted against its tenant's reservation (reserved tier, within R at start)
    within_reservation: bool = False

    @property
    def expected_end(self) -> float:
        """When it will have ended at the latest (inf when unbounded)."""
        limit = self.job.max_runtime_s
        return INF if limit is None else self.started_at + limit
