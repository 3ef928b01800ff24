"""Tenant and reservation use cases (admin)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gigawatt.core.errors import InvalidInput
from gigawatt.scheduling.model import Reservation, SchedulingPolicy
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.models import ReservationModel, TenantModel
from gigawatt.store.repositories import lease as lease_repo
from gigawatt.store.repositories import tenants as repo

KINDS = ("internal", "external")


@dataclass(frozen=True, slots=True)
class TenantView:
    """A tenant as shown by the API."""

    id: str
    name: str
    kind: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ReservationView:
    """A reservation as shown by the API."""

    id: str
    tenant_id: str
    gpu_type: str
    gpus: int
    created_at: float


def _tenant(row: TenantModel) -> TenantView:
    return TenantView(row.id, row.name, row.kind, row.created_at)


def _reservation(row: ReservationModel) -> ReservationView:
    return ReservationView(row.id, row.tenant_id, row.gpu_type, row.gpus, row.created_at)


def create_tenant(platform: Platform, name: str, kind: str) -> TenantView:
    """Create a tenant (:class:`Conflict` if the name is taken)."""
    if kind not in KINDS:
        raise InvalidInput(f"must be 'internal' or 'external', got {kind!r}", "kind")
    with transaction(platform.sessions) as s:
        return _tenant(repo.create_tenant(s, name, kind, platform.clock.now()))


def list_tenants(platform: Platform) -> list[TenantView]:
    """Every tenant."""
    with transaction(platform.sessions) as s:
        return [_tenant(r) for r in repo.list_tenants(s)]


def get_tenant(platform: Platform, tenant_id: str) -> TenantView:
    """One tenant (:class:`NotFound` otherwise)."""
    with transaction(platform.sessions) as s:
        return _tenant(repo.get_tenant(s, tenant_id))


def create_reservation(
    platform: Platform, tenant_id: str, gpu_type: str, gpus: int
) -> ReservationView:
    """Reserve ``gpus`` GPUs of ``gpu_type`` for an external tenant's reserved-tier jobs."""
    if gpu_type not in platform.catalogue:
        raise InvalidInput(
            f"unknown GPU type {gpu_type!r}; known: {', '.join(platform.catalogue.names)}",
            "gpu_type",
        )
    name = platform.catalogue.get(gpu_type).name
    fleet_gpus = sum(n.gpus for n in platform.nodes.values() if n.gpu_type == name)
    with transaction(platform.sessions) as s:
        tenant = repo.get_tenant(s, tenant_id)
        if tenant.kind != "external":
            raise InvalidInput("reservations are sold to external tenants", "tenant")
        lease_repo.lock(s)  # two concurrent requests must not both pass the check below
        held = sum(r.gpus for r in repo.list_reservations(s) if r.gpu_type == name)
        if held + gpus > fleet_gpus:
            raise InvalidInput(
                f"{gpus} more {name} GPUs would reserve {held + gpus} of the fleet's {fleet_gpus}",
                "gpus",
            )
        row = repo.add_reservation(s, tenant_id, name, gpus, platform.clock.now())
        return _reservation(row)


def list_reservations(platform: Platform, tenant_id: str | None = None) -> list[ReservationView]:
    """Reservations of one tenant (checked to exist) or of all."""
    with transaction(platform.sessions) as s:
        if tenant_id is not None:
            repo.get_tenant(s, tenant_id)
        return [_reservation(r) for r in repo.list_reservations(s, tenant_id)]


def delete_reservation(platform: Platform, tenant_id: str, reservation_id: str) -> None:
    """Remove a reservation (running reserved jobs keep running; new ones rank as beyond it)."""
    with transaction(platform.sessions) as s:
        repo.delete_reservation(s, tenant_id, reservation_id)


def policy_of(platform: Platform, session: Session) -> SchedulingPolicy:
    """The live scheduling policy: settings knobs plus the reservations in the database."""
    base = platform.base_policy()
    reservations = tuple(
        Reservation(r.tenant_id, r.gpu_type, r.gpus) for r in repo.list_reservations(session)
    )
    return SchedulingPolicy(
        ordering=base.ordering,
        internal_floor_gpus=base.internal_floor_gpus,
        external_cap_gpus=base.external_cap_gpus,
        reservations=reservations,
        backfill=base.backfill,
    )


def reserved_gpus(conn: Connection, tenant_id: str, gpu_type: str) -> int:
    """GPUs of ``gpu_type`` that ``tenant_id`` has reserved (0 when none): one aggregate read,
    for the submit path, which needs no other part of the policy."""
    total = conn.execute(
        select(func.coalesce(func.sum(ReservationModel.gpus), 0)).where(
            ReservationModel.tenant_id == tenant_id, ReservationModel.gpu_type == gpu_type
        )
    ).scalar_one()
    return int(total)
