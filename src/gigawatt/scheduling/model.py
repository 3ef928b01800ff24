"""Values the scheduler reads and returns. Plain slotted dataclasses: the twin makes millions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gigawatt.core.tiers import Tier

#: Where a job runs: ``(node_id, gpus on that node)`` pairs, in node order.
Placement = tuple[tuple[str, int], ...]


class Ordering(StrEnum):
    """Queue discipline.

    ``priority`` is the live policy: tiers, priority within a tier, EASY backfill, preemption
    of spot. ``fifo`` (strict arrival order, head-of-line blocking), ``fifo-skip`` (arrival
    order, but a job that does not fit is skipped and later ones may start: the FIFO of
    published simulators) and ``sjf`` (shortest ``max_runtime_s`` first, no preemption) exist
    for the twin's comparisons.
    """

    PRIORITY = "priority"
    FIFO = "fifo"
    FIFO_SKIP = "fifo-skip"
    SJF = "sjf"


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What the scheduler needs to know about a job."""

    job_id: str
    tenant: str
    tier: Tier
    gpu_type: str
    gpus: int
    submitted_at: float
    priority: int = 0
    #: Upper bound on run time; used for backfill and SJF. ``None`` means unbounded.
    max_runtime_s: float | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """``tenant`` reserved ``gpus`` GPUs of ``gpu_type``: reserved jobs within it are guaranteed."""

    tenant: str
    gpu_type: str
    gpus: int


@dataclass(frozen=True, slots=True)
class SchedulingPolicy:
    """Knobs of the live policy (all optional)."""

    ordering: Ordering = Ordering.PRIORITY
    #: Internal work is guaranteed this many GPUs fleet-wide: reserved/on-demand sales stop
    #: short of it, and internal jobs take it back from spot by preemption.
    internal_floor_gpus: int = 0
    #: At most this many GPUs are sold outside (reserved + on-demand + spot); None = no cap.
    external_cap_gpus: int | None = None
    reservations: tuple[Reservation, ...] = ()
    backfill: bool = True

    def reserved_gpus(self, tenant: str, gpu_type: str) -> int:
        """GPUs of ``gpu_type`` reserved by ``tenant`` (0 when none)."""
        return sum(
            r.gpus for r in self.reservations if r.tenant == tenant and r.gpu_type == gpu_type
        )


@dataclass(frozen=True, slots=True)
class Start:
    """Start ``job`` on ``placement`` now."""

    job: JobRequest
    placement: Placement


@dataclass(frozen=True, slots=True)
class Preemption:
    """Stop ``job_id`` (spot) so that ``for_job_id`` can run; it keeps its GPUs until released."""

    job_id: str
    for_job_id: str


@dataclass(slots=True)
class Decision:
    """The outcome of one scheduling pass."""

    starts: list[Start] = field(default_factory=list)
    preemptions: list[Preemption] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.starts or self.preemptions)
