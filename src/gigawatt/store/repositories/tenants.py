"""Tenants, API keys and reservations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gigawatt.core.errors import Conflict, NotFound
from gigawatt.store.models import ApiKeyModel, ReservationModel, TenantModel
from gigawatt.store.repositories.ids import looks_like_id, new_id


def create_tenant(session: Session, name: str, kind: str, now: float) -> TenantModel:
    """Insert a tenant; :class:`Conflict` if the name is taken."""
    if session.scalar(select(TenantModel.id).where(TenantModel.name == name)) is not None:
        raise Conflict(f"a tenant named {name!r} already exists")
    row = TenantModel(id=new_id("ten"), name=name, kind=kind, created_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent insert won the race
        raise Conflict(f"a tenant named {name!r} already exists") from exc
    return row


def get_tenant(session: Session, tenant_id: str) -> TenantModel:
    """The tenant, or :class:`NotFound`."""
    row = session.get(TenantModel, tenant_id) if looks_like_id(tenant_id) else None
    if row is None:
        raise NotFound(f"no tenant {tenant_id!r}")
    return row


def list_tenants(session: Session) -> Sequence[TenantModel]:
    """Every tenant, oldest first."""
    return session.scalars(select(TenantModel).order_by(TenantModel.created_at)).all()


def add_key(
    session: Session,
    key_id: str,
    key_hash: str,
    tenant_id: str | None,
    is_admin: bool,
    now: float,
    *,
    name: str = "",
    expires_at: float | None = None,
    scopes: list[str] | None = None,
) -> ApiKeyModel:
    """Store a key's id and hash (never the key)."""
    row = ApiKeyModel(
        id=key_id,
        tenant_id=tenant_id,
        is_admin=is_admin,
        key_hash=key_hash,
        created_at=now,
        name=name,
        expires_at=expires_at,
        scopes=scopes,
    )
    session.add(row)
    session.flush()
    return row


def has_admin_key(session: Session) -> bool:
    """Whether a generated admin key exists."""
    found = session.scalar(select(ApiKeyModel.id).where(ApiKeyModel.is_admin.is_(True)).limit(1))
    return found is not None


def add_reservation(
    session: Session, tenant_id: str, gpu_type: str, gpus: int, now: float
) -> ReservationModel:
    """Insert a reservation of ``gpus`` GPUs of ``gpu_type`` for ``tenant_id``."""
    row = ReservationModel(
        id=new_id("res"), tenant_id=tenant_id, gpu_type=gpu_type, gpus=gpus, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def list_reservations(session: Session, tenant_id: str | None = None) -> Sequence[ReservationModel]:
    """Reservations of one tenant, or all."""
    query = select(ReservationModel).order_by(ReservationModel.created_at)
    if tenant_id is not None:
        query = query.where(ReservationModel.tenant_id == tenant_id)
    return session.scalars(query).all()


def delete_reservation(session: Session, tenant_id: str, reservation_id: str) -> None:
    """Remove a reservation; :class:`NotFound` if the tenant has no such reservation."""
    row = session.get(ReservationModel, reservation_id) if looks_like_id(reservation_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no reservation {reservation_id!r} for tenant {tenant_id!r}")
    session.delete(row)
    session.flush()
