"""FastAPI dependencies: the platform of this app and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from gigawatt.core.errors import Forbidden
from gigawatt.services.auth import Principal, authenticate
from gigawatt.services.platform import Platform


def get_platform(request: Request) -> Platform:
    """The :class:`Platform` the app was created with."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_principal(
    platform: PlatformDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The caller behind ``Authorization: Bearer <key>`` (401 otherwise)."""
    return await run_in_threadpool(authenticate, platform, authorization)


CallerDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: CallerDep) -> Principal:
    """Only the admin key passes (403 for tenant keys)."""
    if not principal.is_admin:
        raise Forbidden("this needs the admin key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
