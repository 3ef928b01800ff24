"""The dependencies the inference gateway is built from (its settings: :mod:`.config`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from gigawatt.core.clock import Clock
from gigawatt.inference.config import InferenceSettings
from gigawatt.inference.token_accounting import Caller


class JobControl(Protocol):
    """What deployments need from the control plane's job service."""

    def submit(
        self,
        tenant_id: str,
        name: str,
        command: list[str],
        gpus: int,
        gpu_type: str,
        tier: str,
        env: dict[str, str],
    ) -> str:
        """Queue a job for ``tenant_id``; returns its id (raises a 4xx error if refused)."""
        ...

    def status(self, job_id: str) -> str:
        """The job's status (``queued`` … ``cancelled``)."""
        ...

    def cancel(self, job_id: str) -> None:
        """Cancel the job (no error if it already ended)."""
        ...


__all__ = ["InferenceDeps", "InferenceSettings", "JobControl"]


@dataclass(frozen=True)
class InferenceDeps:
    """Everything the gateway needs from the process it runs in."""

    sessions: sessionmaker[Session]
    clock: Clock
    #: ``Authorization`` header → caller, or raises ``Unauthorized``.
    authenticate: Callable[[str | None], Caller]
    settings: InferenceSettings = field(default_factory=InferenceSettings)
    jobs: JobControl | None = None
