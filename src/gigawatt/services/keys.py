"""API key management: create, list and revoke keys (never showing a secret or a hash).

The admin sees and revokes every key; a tenant's key sees and revokes its own tenant's keys
and may create more of them (no broader than its own scopes). The admin may create further
admin keys, so the admin key rotates without downtime: create a new one, move clients over,
revoke the old one. The last live admin key cannot be revoked unless ``GIGAWATT_ADMIN_KEY``
is set (that would lock the admin out).
"""

from __future__ import annotations

from dataclasses import dataclass

from gigawatt.core.errors import Conflict, Forbidden, InvalidInput
from gigawatt.services.auth import IssuedKey, KeyOptions, Principal, issue_key, key_prefix
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.models import ApiKeyModel
from gigawatt.store.pagination import Page
from gigawatt.store.repositories import keys as repo
from gigawatt.store.repositories import lease as lease_repo
from gigawatt.store.repositories import tenants as tenants_repo


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as listed: its public prefix and properties, never the secret or its hash."""

    id: str
    tenant_id: str | None
    prefix: str
    name: str
    is_admin: bool
    created_at: float
    last_used_at: float | None
    expires_at: float | None
    scopes: tuple[str, ...] | None
    revoked_at: float | None


def key_view(row: ApiKeyModel) -> KeyView:
    """The view of a key row."""
    return KeyView(
        id=row.id,
        tenant_id=row.tenant_id,
        prefix=key_prefix(row.id),
        name=row.name,
        is_admin=row.is_admin,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        scopes=None if row.scopes is None else tuple(row.scopes),
        revoked_at=row.revoked_at,
    )


def options(
    platform: Platform,
    name: str = "",
    expires_at: float | None = None,
    ttl_s: float | None = None,
    scopes: list[str] | None = None,
) -> KeyOptions:
    """Key options from request fields: ``ttl_s`` or ``expires_at`` (not both, in the future)."""
    if expires_at is not None and ttl_s is not None:
        raise InvalidInput("give expires_at or ttl_s, not both", "ttl_s")
    now = platform.clock.now()
    if ttl_s is not None:
        expires_at = now + ttl_s
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("must be in the future", "expires_at")
    scoped = None if scopes is None else tuple(dict.fromkeys(scopes))
    return KeyOptions(name=name, expires_at=expires_at, scopes=scoped)


def create_key(
    platform: Platform,
    principal: Principal,
    tenant_id: str | None,
    opts: KeyOptions,
    *,
    admin: bool = False,
) -> IssuedKey:
    """A new key: the admin makes any (``admin`` for another admin key); a tenant makes keys
    of its own tenant, no broader than the key it calls with."""
    if admin:
        if not principal.is_admin:
            raise Forbidden("only the admin creates admin keys")
        if tenant_id is not None:
            raise InvalidInput("an admin key belongs to no tenant", "tenant_id")
        if opts.scopes is not None:
            raise InvalidInput("scopes restrict tenant keys; admin keys have none", "scopes")
        return issue_key(platform, None, opts, is_admin=True)
    if not principal.is_admin:
        if tenant_id is not None and tenant_id != principal.tenant_id:
            raise Forbidden("a tenant key creates keys of its own tenant only")
        tenant_id = principal.tenant_id
        if principal.scopes is not None and (
            opts.scopes is None or not set(opts.scopes) <= set(principal.scopes)
        ):
            raise Forbidden("a scoped key cannot create a key with broader scopes")
    if tenant_id is None:
        raise InvalidInput("which tenant? give tenant_id (or admin: true)", "tenant_id")
    return issue_key(platform, tenant_id, opts)


def list_keys(
    platform: Platform,
    principal: Principal,
    tenant_id: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[KeyView]:
    """Keys the caller may see, oldest first: the admin all (or ``tenant_id``'s), a tenant its
    own tenant's."""
    scope = tenant_id if principal.is_admin else principal.tenant_id
    with transaction(platform.sessions) as s:
        if principal.is_admin and tenant_id is not None:
            tenants_repo.get_tenant(s, tenant_id)
        return repo.list_keys(s, scope, limit, cursor).map(key_view)


def revoke_key(platform: Platform, principal: Principal, key_id: str) -> KeyView:
    """Revoke a key at once (revoking it again changes nothing); another tenant's key is
    :class:`NotFound` to a tenant."""
    now = platform.clock.now()
    with transaction(platform.sessions) as s:
        row = repo.get_key(s, key_id, None if principal.is_admin else principal.tenant_id)
        if row.revoked_at is None and row.is_admin and not platform.settings.admin_key:
            lease_repo.lock(s)  # two revocations racing must not both pass the count
            live = repo.live_admin_keys(s, now)
            if live <= 1:
                raise Conflict(
                    "this is the last admin key: create another admin key first "
                    "(POST /v1/keys with admin: true)"
                )
        repo.revoke(s, key_id, now)
        return key_view(repo.get_key(s, key_id))
