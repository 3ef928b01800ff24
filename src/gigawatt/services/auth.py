"""Tenants, API keys and the admin key.

A key looks like ``gw_<key id>_<secret>``. Only ``sha256(key)`` is stored, under the key id,
so a lookup is one primary-key read followed by a constant-time comparison of hashes. The
admin key comes from ``GIGAWATT_ADMIN_KEY`` (never stored) or is generated on first start,
printed once and stored hashed like any other key.

A revoked or expired key is refused at once. ``last_used_at`` is written at most once per
:data:`LAST_USED_EVERY_S` per key, not on every request.

A :class:`KeyCache` (one per app) keeps successful checks for :data:`KEY_CACHE_TTL_S` of
clock time, so a busy client costs no database read per request: a key revoked through this
process is forgotten at once (:meth:`KeyCache.forget`), one revoked through another server
process stops working here within :data:`KEY_CACHE_TTL_S`, and an expired key is refused at
its expiry whatever the cache holds. Failed checks are never cached.
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
#: How long a successful key check is reused (seconds of clock time): the longest a key
#: revoked through another server process keeps working here.
KEY_CACHE_TTL_S = 1.0


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


class KeyCache:
    """Successful key checks of one process, by the key's hash, each reused for ``ttl_s``.

    Entries older than ``ttl_s`` (or from a clock that went back), and keys past their
    expiry, are misses. Holds at most ``max_entries`` keys (then starts over). Safe to share
    between threads: every operation is one dictionary access.
    """

    def __init__(self, ttl_s: float = KEY_CACHE_TTL_S, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._checked: dict[str, tuple[float, Principal]] = {}
        #: Bumped by :meth:`forget`: a check that began before it is not remembered (it may
        #: have read a key just revoked).
        self.generation = 0

    def get(self, digest: str, now: float) -> Principal | None:
        """The principal of a key checked less than ``ttl_s`` ago and not expired, or None."""
        found = self._checked.get(digest)
        if found is None:
            return None
        checked_at, principal = found
        if not 0.0 <= now - checked_at < self.ttl_s:
            return None
        if principal.expires_at is not None and now >= principal.expires_at:
            return None
        return principal

    def put(
        self, digest: str, checked_at: float, principal: Principal, generation: int | None = None
    ) -> None:
        """Remember a successful check made at ``checked_at`` (not if it began before the
        last :meth:`forget`: pass the :attr:`generation` read before the check)."""
        if self.ttl_s <= 0 or (generation is not None and generation != self.generation):
            return
        if len(self._checked) >= self.max_entries:
            self._checked = {}
        self._checked[digest] = (checked_at, principal)

    def forget(self) -> None:
        """Drop every remembered check (a key was revoked here: it gets 401 at once)."""
        self.generation += 1
        self._checked = {}


def _bearer_key(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("malformed Authorization header; send 'Authorization: Bearer <key>'")
    return key


def _env_admin(platform: Platform, digest: str) -> bool:
    env_key = platform.settings.admin_key
    return bool(env_key) and hmac.compare_digest(digest, hash_key(env_key or ""))


def cached_principal(
    platform: Platform, authorization: str | None, cache: KeyCache
) -> Principal | None:
    """The caller if known without the database (the ``GIGAWATT_ADMIN_KEY`` or a fresh
    cached check), else None: then call :func:`authenticate`. Does no I/O."""
    try:
        key = _bearer_key(authorization)
    except Unauthorized:
        return None
    digest = hash_key(key)
    if _env_admin(platform, digest):
        return ADMIN
    return cache.get(digest, platform.clock.now())


def authenticate(
    platform: Platform, authorization: str | None, cache: KeyCache | None = None
) -> Principal:
    """The caller behind an ``Authorization: Bearer <key>`` header, or :class:`Unauthorized`.

    With a ``cache``, a fresh successful check is reused and a new one remembered."""
    key = _bearer_key(authorization)
    digest = hash_key(key)
    if _env_admin(platform, digest):
        return ADMIN
    now = platform.clock.now()
    if cache is None:
        return _check_stored(platform, key, digest, now)
    found = cache.get(digest, now)
    if found is not None:
        return found
    generation = cache.generation
    principal = _check_stored(platform, key, digest, now)
    cache.put(digest, now, principal, generation)
    return principal


def _check_stored(platform: Platform, key: str, digest: str, now: float) -> Principal:
    key_id = _key_id_of(key)
    if key_id is None:
        raise Unauthorized("invalid API key")
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
