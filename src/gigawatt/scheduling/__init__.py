"""Scheduling policy (pure): tiers, reservations, gang placement, power caps, backfill, preemption.

The live control plane and the digital twin drive the same :class:`Scheduler`.
"""

from gigawatt.scheduling.model import (
    Decision,
    JobRequest,
    Ordering,
    Placement,
    Preemption,
    Reservation,
    SchedulingPolicy,
    Start,
)
from gigawatt.scheduling.scheduler import Scheduler

__all__ = [
    "Decision",
    "JobRequest",
    "Ordering",
    "Placement",
    "Preemption",
    "Reservation",
    "Scheduler",
    "SchedulingPolicy",
    "Start",
]
