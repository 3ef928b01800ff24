"""``/v1/tenants`` (admin): tenants, their API keys and reservations."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Body, Response

from gigawatt.api.deps import AdminDep, PlatformDep
from gigawatt.api.routers.keys import issued_out
from gigawatt.api.schemas import KeyIn, KeyOut, ReservationIn, ReservationOut, TenantIn, TenantOut
from gigawatt.services import auth, keys, tenants

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post("", status_code=201, response_model=TenantOut)
def create_tenant(body: TenantIn, platform: PlatformDep, _admin: AdminDep) -> TenantOut:
    """Create a tenant (409 if the name is taken)."""
    return TenantOut(**asdict(tenants.create_tenant(platform, body.name, body.kind)))


@router.get("", response_model=list[TenantOut])
def list_tenants(platform: PlatformDep, _admin: AdminDep) -> list[TenantOut]:
    """Every tenant."""
    return [TenantOut(**asdict(t)) for t in tenants.list_tenants(platform)]


@router.get("/{tenant_id}", response_model=TenantOut)
def get_tenant(tenant_id: str, platform: PlatformDep, _admin: AdminDep) -> TenantOut:
    """One tenant."""
    return TenantOut(**asdict(tenants.get_tenant(platform, tenant_id)))


@router.post("/{tenant_id}/keys", status_code=201, response_model=KeyOut)
def create_key(
    tenant_id: str,
    platform: PlatformDep,
    _admin: AdminDep,
    body: KeyIn | None = Body(default=None),
) -> KeyOut:
    """A new API key for the tenant. The key is in this response only; store it."""
    spec = body or KeyIn()
    opts = keys.options(platform, spec.name, spec.expires_at, spec.ttl_s, spec.scopes)
    return issued_out(auth.issue_key(platform, tenant_id, opts))


@router.post("/{tenant_id}/reservations", status_code=201, response_model=ReservationOut)
def create_reservation(
    tenant_id: str, body: ReservationIn, platform: PlatformDep, _admin: AdminDep
) -> ReservationOut:
    """Reserve GPUs of a type for the tenant's ``reserved``-tier jobs."""
    view = tenants.create_reservation(platform, tenant_id, body.gpu_type, body.gpus)
    return ReservationOut(**asdict(view))


@router.get("/{tenant_id}/reservations", response_model=list[ReservationOut])
def list_reservations(
    tenant_id: str, platform: PlatformDep, _admin: AdminDep
) -> list[ReservationOut]:
    """The tenant's reservations."""
    return [ReservationOut(**asdict(r)) for r in tenants.list_reservations(platform, tenant_id)]


@router.delete("/{tenant_id}/reservations/{reservation_id}", status_code=204)
def delete_reservation(
    tenant_id: str, reservation_id: str, platform: PlatformDep, _admin: AdminDep
) -> Response:
    """End a reservation."""
    tenants.delete_reservation(platform, tenant_id, reservation_id)
    return Response(status_code=204)
