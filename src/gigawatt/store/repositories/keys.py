"""API keys: listing, revocation and the coarse ``last_used_at`` stamp (hashes stay inside)."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from gigawatt.core.errors import NotFound
from gigawatt.store.models import ApiKeyModel
from gigawatt.store.pagination import Page, SortKey, paginate
from gigawatt.store.repositories.ids import looks_like_id

KEY_ORDER = (SortKey(ApiKeyModel.created_at, float), SortKey(ApiKeyModel.id, str))


def get_key(session: Session, key_id: str, tenant_id: str | None = None) -> ApiKeyModel:
    """The key (live, revoked or expired); :class:`NotFound` if absent or, with ``tenant_id``,
    another tenant's."""
    row = session.get(ApiKeyModel, key_id) if looks_like_id(key_id) else None
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"no API key {key_id!r}")
    return row


def list_keys(
    session: Session, tenant_id: str | None, limit: int, cursor: str | None = None
) -> Page[ApiKeyModel]:
    """Keys oldest first, all or one tenant's."""
    query = select(ApiKeyModel)
    if tenant_id is not None:
        if not looks_like_id(tenant_id):
            return Page([], None)
        query = query.where(ApiKeyModel.tenant_id == tenant_id)
    return paginate(
        session, query, "keys", KEY_ORDER, lambda r: (r.created_at, r.id), limit, cursor
    )


def revoke(session: Session, key_id: str, now: float) -> bool:
    """Mark the key revoked now (True), or leave an already revoked key as it was (False)."""
    result = session.execute(
        update(ApiKeyModel)
        .where(ApiKeyModel.id == key_id, ApiKeyModel.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def live_admin_keys(session: Session, now: float) -> int:
    """Admin keys in the database that are neither revoked nor expired."""
    query = select(func.count()).where(
        ApiKeyModel.is_admin.is_(True),
        ApiKeyModel.revoked_at.is_(None),
        or_(ApiKeyModel.expires_at.is_(None), ApiKeyModel.expires_at > now),
    )
    return int(session.scalar(query) or 0)


def touch(session: Session, key_id: str, now: float, every_s: float) -> None:
    """Set ``last_used_at`` to ``now`` unless it was set less than ``every_s`` ago (so a busy
    key costs one write a minute, not one per request)."""
    session.execute(
        update(ApiKeyModel)
        .where(
            ApiKeyModel.id == key_id,
            or_(ApiKeyModel.last_used_at.is_(None), ApiKeyModel.last_used_at <= now - every_s),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
