"""Tenants, API keys and the admin key.

A key looks like ``gw_<key id>_<secret>``. Only ``sha256(key)`` is stored, under the key id,
so a lookup is one primary-key read followed by a constant-time comparison of hashes. The
admin key comes from ``GIGAWATT_ADMIN_KEY`` (never stored) or is generated on first start,
printed once and stored hashed like any other key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from gigawatt.core.errors import Unauthorized
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import tenants as repo

ADMIN_KEY_ID = "admin"
_PREFIX = "gw"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin, or a tenant of a kind."""

    is_admin: bool
    tenant_id: str | None = None
    tenant_kind: str | None = None
    key_id: str | None = None


ADMIN = Principal(is_admin=True, key_id=ADMIN_KEY_ID)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly generated key: ``key`` is shown once and never stored."""

    key_id: str
    key: str
    tenant_id: str | None
    created_at: float


def hash_key(key: str) -> str:
    """Hex SHA-256 of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _generate(key_id: str) -> str:
    return f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def _key_id_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or len(parts[1]) > 40:
        return None
    return parts[1]


def issue_key(platform: Platform, tenant_id: str) -> IssuedKey:
    """Create a key for ``tenant_id`` (which must exist)."""
    now = platform.clock.now()
    key_id = secrets.token_hex(8)
    key = _generate(key_id)
    with transaction(platform.sessions) as s:
        repo.get_tenant(s, tenant_id)
        repo.add_key(s, key_id, hash_key(key), tenant_id, False, now)
    return IssuedKey(key_id, key, tenant_id, now)


def ensure_admin_key(platform: Platform) -> str | None:
    """Generate the admin key on first start; returns it (to print once) or None if one exists
    or ``GIGAWATT_ADMIN_KEY`` is set."""
    if platform.settings.admin_key:
        return None
    now = platform.clock.now()
    key = _generate(ADMIN_KEY_ID)
    try:
        with transaction(platform.sessions) as s:
            if repo.has_admin_key(s):
                return None
            repo.add_key(s, ADMIN_KEY_ID, hash_key(key), None, True, now)
    except IntegrityError:  # another server process created it at the same moment
        return None
    return key


def authenticate(platform: Platform, authorization: str | None) -> Principal:
    """The caller behind an ``Authorization: Bearer <key>`` header, or :class:`Unauthorized`."""
    if not authorization:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("malformed Authorization header; send 'Authorization: Bearer <key>'")
    digest = hash_key(key)
    env_key = platform.settings.admin_key
    if env_key and hmac.compare_digest(digest, hash_key(env_key)):
        return ADMIN
    key_id = _key_id_of(key)
    if key_id is not None:
        with transaction(platform.sessions) as s:
            row = repo.find_key(s, key_id)
            if row is not None and hmac.compare_digest(digest, row.key_hash):
                if row.is_admin:
                    return ADMIN
                tenant = repo.get_tenant(s, row.tenant_id or "")
                return Principal(False, tenant.id, tenant.kind, row.id)
    raise Unauthorized("invalid API key")
