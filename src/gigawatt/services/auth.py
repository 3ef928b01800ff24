"""Tenants, API keys and the admin key.

A key looks like ``gw_<key id>_<secret>``. Only ``sha256(key)`` is stored, under the key id,
so a lookup is one primary-key read followed by a constant-time comparison of hashes. The
admin key comes from ``GIGAWATT_ADMIN_KEY`` (never stored) or is generated on first start,
printed once and stored hashed like any other key.

A revoked or expired key is refused at once. ``last_used_at`` is written at most once per
:data:`LAST_USED_EVERY_S` per key, not on every request.
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
from gigawatt.store.models import ApiKeyModel
from gigawatt.store.repositories import keys as keys_repo
from gigawatt.store.repositories import tenants as repo
from gigawatt.store.repositories.ids import looks_like_id

ADMIN_KEY_ID = "admin"
_PREFIX = "gw"
#: ``last_used_at`` is refreshed when older than this (seconds).
LAST_USED_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin, or a tenant of a kind."""

    is_admin: bool
    tenant_id: str | None = None
    tenant_kind: str | None = None
    key_id: str | None = None
    #: Inference models the key may call (None: all).
    scopes: tuple[str, ...] | None = None
    #: When the key stops working (None: never).
    expires_at: float | None = None

    def may_call(self, model: str) -> bool:
        """Whether the key's scopes allow calling inference ``model``."""
        return self.scopes is None or model in self.scopes


ADMIN = Principal(is_admin=True, key_id=ADMIN_KEY_ID)


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """Optional properties of a new key."""

    name: str = ""
    expires_at: float | None = None
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly generated key: ``key`` is shown once and never stored."""

    key_id: str
    key: str
    tenant_id: str | None
    created_at: float
    is_admin: bool = False
    options: KeyOptions = KeyOptions()


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


def key_prefix(key_id: str) -> str:
    """The public start of every key with this id (``gw_<id>``): safe to show and log."""
    return f"{_PREFIX}_{key_id}"


def issue_key(
    platform: Platform,
    tenant_id: str | None,
    options: KeyOptions | None = None,
    *,
    is_admin: bool = False,
) -> IssuedKey:
    """Create a key for ``tenant_id`` (which must exist), or an admin key (``is_admin``,
    ``tenant_id`` None): several admin keys let the admin key rotate without downtime."""
    opts = options or KeyOptions()
    now = platform.clock.now()
    key_id = secrets.token_hex(8)
    key = _generate(key_id)
    scopes = None if opts.scopes is None else list(opts.scopes)
    with transaction(platform.sessions) as s:
        if tenant_id is not None:
            repo.get_tenant(s, tenant_id)
        repo.add_key(
            s,
            key_id,
            hash_key(key),
            tenant_id,
            is_admin,
            now,
            name=opts.name,
            expires_at=opts.expires_at,
            scopes=scopes,
        )
    return IssuedKey(key_id, key, tenant_id, now, is_admin, opts)


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
    if key_id is None:
        raise Unauthorized("invalid API key")
    now = platform.clock.now()
    with transaction(platform.sessions) as s:
        row = s.get(ApiKeyModel, key_id) if looks_like_id(key_id) else None
        if row is None or not hmac.compare_digest(digest, row.key_hash):
            raise Unauthorized("invalid API key")
        if row.revoked_at is not None:
            raise Unauthorized("this API key was revoked")
        if row.expires_at is not None and now >= row.expires_at:
            raise Unauthorized("this API key has expired")
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY_S:
            keys_repo.touch(s, row.id, now, LAST_USED_EVERY_S)
        scopes = None if row.scopes is None else tuple(str(m) for m in row.scopes)
        if row.is_admin:
            return Principal(True, None, None, row.id, None, row.expires_at)
        tenant = repo.get_tenant(s, row.tenant_id or "")
        return Principal(False, tenant.id, tenant.kind, row.id, scopes, row.expires_at)
