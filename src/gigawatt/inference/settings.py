"""Settings of the inference gateway, and the dependencies it is built from."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from gigawatt.core.clock import Clock
from gigawatt.inference.token_accounting import Caller


class InferenceSettings(BaseModel):
    """Tunables of the gateway. Defaults suit production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: URL replicas use to register with the gateway (default: the URL the deployment was
    #: created through).
    public_url: str | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=600.0, gt=0)
    #: How stale this process's copy of models, replicas and limits may be.
    cache_ttl_s: float = Field(default=1.0, ge=0)
    health_interval_s: float = Field(default=2.0, gt=0)
    reconcile_interval_s: float = Field(default=3.0, gt=0)
    max_body_bytes: int = Field(default=4 << 20, ge=1024)
    #: Output tokens a request without ``max_tokens`` is reserved for against a budget (and
    #: capped at upstream, when a budget applies, so the reservation bounds its cost).
    default_max_tokens: int = Field(default=4096, ge=1, le=1_000_000)
    #: Replica jobs that end before registering, after which a deployment is marked failed.
    max_replica_failures: int = Field(default=3, ge=1)
    #: Python that runs the worker in replica jobs.
    worker_python: str = sys.executable
    #: Extra attempts for a request whose upstream failed before answering (on other
    #: upstreams or replicas of the model, then on its fallbacks), after a backoff doubling
    #: from ``retry_backoff_s`` up to ``retry_backoff_max_s``.
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_s: float = Field(default=0.05, ge=0)
    retry_backoff_max_s: float = Field(default=1.0, ge=0)
    #: An upstream failing this many requests in a row cools down for ``cooldown_s`` (then
    #: one request probes it; each failed probe doubles the cooldown, up to ``max_cooldown_s``).
    cooldown_after_failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=10.0, ge=0)
    max_cooldown_s: float = Field(default=300.0, ge=0)
    #: Run the per-request database work (admission, usage record) in a worker thread instead
    #: of on the event loop. Inline (the default) saves about 0.3 ms of CPU per request; a
    #: database that makes writers wait (SQLite while another process writes) then stalls
    #: this process's other requests for as long.
    db_in_thread: bool = False
    #: Start the health-probe and deployment loops with the app (off in unit tests).
    background: bool = True


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


@dataclass(frozen=True)
class InferenceDeps:
    """Everything the gateway needs from the process it runs in."""

    sessions: sessionmaker[Session]
    clock: Clock
    #: ``Authorization`` header → caller, or raises ``Unauthorized``.
    authenticate: Callable[[str | None], Caller]
    settings: InferenceSettings = field(default_factory=InferenceSettings)
    jobs: JobControl | None = None
