"""Replica balancing and health: which ready replica of a model takes the next request.

Each gateway process reads the registered replicas of active deployments from the database
(every ``ttl_s``), probes each one's ``GET /health`` every health interval, and routes a
request to the healthy replica with the fewest requests in flight from this process (ties
go round-robin). A replica that refuses a connection or fails its probe is taken out of
rotation at once and comes back when a probe succeeds again.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gigawatt.core.clock import Clock
from gigawatt.core.states import DeploymentStatus, ReplicaStatus
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import DeploymentModel, ReplicaModel


@dataclass
class Replica:
    """One replica as this process sees it."""

    id: str
    model_id: str
    url: str
    healthy: bool = True
    inflight: int = 0
    failures: int = 0
    last_error: str = ""

    @property
    def base_url(self) -> str:
        """The replica's OpenAI base URL."""
        return f"{self.url}/v1"


def ready_replicas(session: Session) -> list[tuple[str, str, str]]:
    """``(replica id, model id, url)`` of every registered replica of an active deployment."""
    query = (
        select(ReplicaModel.id, DeploymentModel.model_id, ReplicaModel.url)
        .join(DeploymentModel, DeploymentModel.id == ReplicaModel.deployment_id)
        .where(
            ReplicaModel.status == ReplicaStatus.READY.value,
            DeploymentModel.status == DeploymentStatus.ACTIVE.value,
        )
        .order_by(ReplicaModel.id)
    )
    return [(rid, model, url) for rid, model, url in session.execute(query) if url]


class Balancer:
    """This process's view of the replicas, with health and in-flight counts."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, ttl_s: float = 1.0) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl_s = ttl_s
        self._loaded_at = -1e18
        self._replicas: dict[str, Replica] = {}
        self._turn = itertools.count()

    def refresh(self, force: bool = False) -> None:
        """Reload the replica list from the database if it is older than ``ttl_s``."""
        now = self._clock.now()
        if not force and now - self._loaded_at <= self._ttl_s:
            return
        with transaction(self._sessions) as s:
            rows = ready_replicas(s)
        fresh: dict[str, Replica] = {}
        for rid, model_id, url in rows:
            old = self._replicas.get(rid)
            fresh[rid] = old if old is not None and old.url == url else Replica(rid, model_id, url)
        self._replicas = fresh
        self._loaded_at = now

    def fresh(self) -> bool:
        """Whether the replica list is younger than ``ttl_s`` (no reload needed)."""
        return self._clock.now() - self._loaded_at <= self._ttl_s

    def replicas(self, model_id: str | None = None) -> list[Replica]:
        """Known replicas (of one model)."""
        return [r for r in self._replicas.values() if model_id is None or r.model_id == model_id]

    def ready_count(self, model_id: str) -> int:
        """Healthy replicas of ``model_id``."""
        return sum(1 for r in self.replicas(model_id) if r.healthy)

    def pick(self, model_id: str, exclude: frozenset[str] = frozenset()) -> Replica | None:
        """The healthy replica with the fewest in-flight requests (None if there is none)."""
        candidates = [r for r in self.replicas(model_id) if r.healthy and r.id not in exclude]
        if not candidates:
            return None
        least = min(r.inflight for r in candidates)
        tied = [r for r in candidates if r.inflight == least]
        return tied[next(self._turn) % len(tied)]

    def mark_down(self, replica_id: str, reason: str) -> None:
        """Stop routing to a replica until its health probe succeeds."""
        replica = self._replicas.get(replica_id)
        if replica is not None:
            replica.healthy = False
            replica.failures += 1
            replica.last_error = reason

    async def probe(self, client: httpx.AsyncClient, timeout_s: float = 2.0) -> None:
        """Probe every replica's ``/health`` concurrently and update its health."""

        async def one(replica: Replica) -> None:
            try:
                response = await client.get(f"{replica.url}/health", timeout=timeout_s)
                ok = response.status_code == 200
                error = "" if ok else f"health answered HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"health probe failed: {type(exc).__name__}"
            replica.healthy = ok
            if ok:
                replica.failures = 0
            else:
                replica.failures += 1
                replica.last_error = error

        await asyncio.gather(*(one(r) for r in list(self._replicas.values())))
