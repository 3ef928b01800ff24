"""Values the scheduler reads and returns.

The twin makes millions of them, and the scheduler may be compiled (mypyc, see
docs/simulator.md "Compiled hot path"), so the per-job values are plain classes with an explicit
``__init__`` and ``Final`` attributes rather than frozen dataclasses: a frozen dataclass's
generated ``__init__`` runs interpreted even in a compiled module (about 1.3 µs per job, eight
times this). They stay immutable: mypy refuses assignments to ``Final`` attributes, and the
compiled classes refuse them at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

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


class _Value:
    """Equality, hash and repr by the attributes named in ``__slots__`` (immutable values)."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"


class JobRequest(_Value):
    """What the scheduler needs to know about a job."""

    __slots__ = (  # noqa: RUF023 (the constructor's order: repr and eq follow it)
        "job_id",
        "tenant",
        "tier",
        "gpu_type",
        "gpus",
        "submitted_at",
        "priority",
        "max_runtime_s",
        "tag",
    )

    def __init__(
        self,
        job_id: str,
        tenant: str,
        tier: Tier,
        gpu_type: str,
        gpus: int,
        submitted_at: float,
        priority: int = 0,
        max_runtime_s: float | None = None,
        tag: object = None,
    ) -> None:
        self.job_id: Final = job_id
        self.tenant: Final = tenant
        self.tier: Final = tier
        self.gpu_type: Final = gpu_type
        self.gpus: Final = gpus
        self.submitted_at: Final = submitted_at
        self.priority: Final = priority
        #: Upper bound on run time; used for backfill and SJF. ``None`` means unbounded.
        self.max_runtime_s: Final = max_runtime_s
        #: The caller's own handle for the job, kept and handed back untouched in a
        #: :class:`Start` (the twin's record of the job, so that it needs no id lookup).
        self.tag: Final = tag


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


class Start(_Value):
    """Start ``job`` on ``placement`` now."""

    __slots__ = ("job", "placement")

    def __init__(self, job: JobRequest, placement: Placement) -> None:
        self.job: Final = job
        self.placement: Final = placement


class Preemption(_Value):
    """Stop ``job_id`` (spot) so that ``for_job_id`` can run; it keeps its GPUs until released."""

    __slots__ = ("job_id", "for_job_id")  # noqa: RUF023 (the constructor's order)

    def __init__(self, job_id: str, for_job_id: str) -> None:
        self.job_id: Final = job_id
        self.for_job_id: Final = for_job_id


@dataclass(slots=True, init=False)
class Decision:
    """The outcome of one scheduling pass."""

    starts: list[Start]
    preemptions: list[Preemption]

    def __init__(
        self, starts: list[Start] | None = None, preemptions: list[Preemption] | None = None
    ) -> None:
        self.starts = [] if starts is None else starts
        self.preemptions = [] if preemptions is None else preemptions

    def __bool__(self) -> bool:
        return bool(self.starts or self.preemptions)
