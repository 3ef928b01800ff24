"""FastAPI dependencies: the platform of this app and the authenticated caller.

Both are ``async``: neither blocks (the caller comes from the app's :class:`KeyCache` when a
fresh check is there), so a request hops to a worker thread only for a key check that needs
the database, not once per dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from gigawatt.core.errors import Forbidden
from gigawatt.services.auth import KeyCache, Principal, authenticate, cached_principal
from gigawatt.services.platform import Platform


async def get_platform(request: Request) -> Platform:
    """The :class:`Platform` the app was created with."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def key_cache(state: State) -> KeyCache:
    """The cache of successful key checks of the app whose ``state`` this is (made on first
    use; one per app)."""
    cache = getattr(state, "key_cache", None)
    if not isinstance(cache, KeyCache):
        cache = KeyCache()
        state.key_cache = cache
    return cache


async def principal_of(state: State, platform: Platform, authorization: str | None) -> Principal:
    """The caller behind ``authorization`` (:class:`Unauthorized` otherwise): from the app's
    key cache when fresh, else checked against the database in a worker thread."""
    cache = key_cache(state)
    found = cached_principal(platform, authorization, cache)
    if found is not None:
        return found
    return await run_in_threadpool(authenticate, platform, authorization, cache)


async def get_principal(request: Request) -> Principal:
    """The caller behind ``Authorization: Bearer <key>`` (401 otherwise). One dependency
    with no parameters of its own: FastAPI's per-dependency work is a good part of a
    request's cost."""
    state = request.app.state
    return await principal_of(state, state.platform, request.headers.get("authorization"))


CallerDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: CallerDep) -> Principal:
    """Only the admin key passes (403 for tenant keys)."""
    if not principal.is_admin:
        raise Forbidden("this needs the admin key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
