"""Price tiers and job states shared by scheduler, billing, store and simulator."""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """How capacity is sold. Lower :attr:`rank` means higher scheduling priority."""

    INTERNAL = "internal"
    RESERVED = "reserved"
    ON_DEMAND = "on_demand"
    SPOT = "spot"

    @property
    def rank(self) -> int:
        """0 for internal (highest priority) … 3 for spot."""
        return _RANK[self]

    @property
    def preemptible(self) -> bool:
        """Only spot work may be preempted."""
        return self is Tier.SPOT

    @property
    def external(self) -> bool:
        """Whether this tier is sold to outside customers."""
        return self is not Tier.INTERNAL


_RANK = {Tier.INTERNAL: 0, Tier.RESERVED: 1, Tier.ON_DEMAND: 2, Tier.SPOT: 3}


class JobStatus(StrEnum):
    """Job lifecycle. A preempted spot job goes back to ``queued``."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    PREEMPTED = "preempted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_terminal(self) -> bool:
        """Terminal states are final: nothing may leave them."""
        return self in _TERMINAL

    def holds_gpus(self) -> bool:
        """Whether a job in this state has GPUs allocated."""
        return self in (JobStatus.STARTING, JobStatus.RUNNING)


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
