"""Lifecycle states of attempts, inference deployments and replicas (``JobStatus`` lives in
:mod:`gigawatt.core.tiers`).

They are ``StrEnum``s: a member equals its stored string, and the database refuses any other
value through CHECK constraints (see :func:`check_sql`).
"""

from __future__ import annotations

from enum import StrEnum


class AttemptStatus(StrEnum):
    """One run of a job: ``starting`` and ``running`` hold GPUs; the others are final."""

    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"

    def holds_gpus(self) -> bool:
        """Whether an attempt in this state has GPUs allocated."""
        return self in (AttemptStatus.STARTING, AttemptStatus.RUNNING)


class DeploymentStatus(StrEnum):
    """An inference deployment: ``active`` until deleted or failed."""

    ACTIVE = "active"
    DELETED = "deleted"
    FAILED = "failed"


class ReplicaStatus(StrEnum):
    """One replica of a deployment: its job submitted, registered, or ended."""

    STARTING = "starting"
    READY = "ready"
    STOPPED = "stopped"


def check_sql(column: str, states: type[StrEnum]) -> str:
    """SQL for a CHECK constraint that ``column`` holds one of ``states``' values."""
    values = ", ".join(f"'{s.value}'" for s in states)
    return f"{column} IN ({values})"
