"""Mutable bookkeeping records of the scheduler: running allocations and per-pass memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gigawatt.scheduling.backfill import Shadow
from gigawatt.scheduling.model import JobRequest

INF: Final = float("inf")


# The explicit ``__init__``s (``init=False``) are compiled with the module (mypyc); a generated
# dataclass ``__init__`` would run interpreted, once per job or pass.


@dataclass(slots=True, init=False)
class PassState:
    """What a pass learnt, kept for the next incremental pass (valid while capacity only
    shrinks): the blocked head job's shadow per GPU type and the smallest sizes that failed."""

    shadows: dict[str, Shadow]
    failed_fit: dict[str, int]
    failed_preempt: dict[str, int]
    #: GPU types on which no further non-preempting job can start in this pass
    blocked: set[str]

    def __init__(self) -> None:
        self.shadows = {}
        self.failed_fit = {}
        self.failed_preempt = {}
        self.blocked = set()

    def clear(self) -> None:
        """Forget everything (a full pass starts over), keeping the containers."""
        self.shadows.clear()
        self.failed_fit.clear()
        self.failed_preempt.clear()
        self.blocked.clear()


@dataclass(slots=True, init=False)
class Running:
    """A job holding GPUs."""

    job: JobRequest
    nodes: tuple[int, ...]
    indices: tuple[tuple[int, ...], ...]
    started_at: float
    draining_for: str | None
    #: counted against its tenant's reservation (reserved tier, within R at start)
    within_reservation: bool

    def __init__(
        self,
        job: JobRequest,
        nodes: tuple[int, ...],
        indices: tuple[tuple[int, ...], ...],
        started_at: float,
        draining_for: str | None = None,
        within_reservation: bool = False,
    ) -> None:
        self.job = job
        self.nodes = nodes
        self.indices = indices
        self.started_at = started_at
        self.draining_for = draining_for
        self.within_reservation = within_reservation

    @property
    def expected_end(self) -> float:
        """When it will have ended at the latest (inf when unbounded)."""
        limit = self.job.max_runtime_s
        return INF if limit is None else self.started_at + limit
