"""``Idempotency-Key``: a retried create returns the first result instead of creating again.

A request carrying a key first claims ``(caller's tenant, key)`` with an INSERT the database
makes unique, in its own transaction, before the request runs; so of two concurrent
requests (threads or server processes) exactly one runs, and the other waits for its result.
The response (status and body) is stored once the request ends; a retry with the same key
and the same request (method, path, query and JSON body, whatever the key order) gets it
back; the same key with another request is a 409. A request that failed on the server's
side (5xx, or an exception) releases its key, so the retry runs again. Keys are kept
:data:`RETENTION_S` seconds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import idempotency as repo

#: How long a key is remembered (seconds).
RETENTION_S = 24 * 3600.0
#: Longest accepted key.
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Stored:
    """What the first request with a key left: its hash and, once answered, its response."""

    request_hash: str
    status_code: int | None
    content_type: str | None
    body: bytes | None
    created_at: float


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of what makes two requests "the same": method, path, query and body (JSON
    bodies compared by value, so key order and spacing do not matter)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8", "surrogatepass")
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def claim(platform: Platform, scope: str, key: str, digest: str) -> Stored | None:
    """Claim the key for this request (None: go ahead and run it), or what holds it."""
    now = platform.clock.now()
    for _ in range(3):
        try:
            with transaction(platform.sessions) as s:
                repo.purge(s, now - RETENTION_S)
                repo.insert(s, scope, key, digest, now)
            return None
        except IntegrityError:
            found = lookup(platform, scope, key)
            if found is not None:
                return found
            # released or purged between our INSERT and SELECT: try again
    found = lookup(platform, scope, key)
    if found is None:  # pragma: no cover - three races lost in a row
        raise RuntimeError("could not claim the idempotency key")
    return found


def lookup(platform: Platform, scope: str, key: str) -> Stored | None:
    """The stored request with this key, if any."""
    with transaction(platform.sessions) as s:
        row = repo.find(s, scope, key)
        if row is None:
            return None
        return Stored(
            row.request_hash, row.status_code, row.content_type, row.response_body, row.created_at
        )


def complete(
    platform: Platform,
    scope: str,
    key: str,
    status_code: int,
    content_type: str | None,
    body: bytes,
) -> None:
    """Store the response of the request that claimed the key."""
    with transaction(platform.sessions) as s:
        repo.complete(s, scope, key, status_code, content_type, body, platform.clock.now())


def release(platform: Platform, scope: str, key: str) -> None:
    """Forget the key: its request did not complete, so a retry may run it."""
    with transaction(platform.sessions) as s:
        repo.release(s, scope, key)
