"""``/v1/keys``: list, create and revoke API keys (the admin: all; a tenant: its own)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gigawatt.api.deps import CallerDep, PlatformDep, key_cache
from gigawatt.api.paging import CursorQ, set_next_cursor
from gigawatt.api.schemas import KeyCreateIn, KeyItemOut, KeyOut
from gigawatt.services import keys
from gigawatt.services.auth import IssuedKey, key_prefix
from gigawatt.services.keys import KeyView

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def key_item(view: KeyView) -> KeyItemOut:
    """Response body of a listed key."""
    return KeyItemOut.model_validate(asdict(view))


def issued_out(issued: IssuedKey) -> KeyOut:
    """Response body of a new key (the only time its secret is shown)."""
    opts = issued.options
    return KeyOut(
        id=issued.key_id,
        tenant_id=issued.tenant_id,
        key=issued.key,
        prefix=key_prefix(issued.key_id),
        name=opts.name,
        is_admin=issued.is_admin,
        created_at=issued.created_at,
        expires_at=opts.expires_at,
        scopes=None if opts.scopes is None else list(opts.scopes),
    )


def forget_cached_callers(request: Request) -> None:
    """Make a revocation effective at once in this process: its key cache and its inference
    gateway's."""
    key_cache(request.app.state).forget()
    gateway = getattr(request.app.state, "inference_gateway", None)
    if gateway is not None:
        gateway.forget_callers()


@router.get("", response_model=list[KeyItemOut])
def list_keys(
    platform: PlatformDep,
    caller: CallerDep,
    response: Response,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: CursorQ = None,
) -> list[KeyItemOut]:
    """Keys oldest first: the admin sees all (or ``tenant_id``'s), a tenant its own tenant's.
    Never the secret. More pages: ``X-Next-Cursor``."""
    page = keys.list_keys(platform, caller, tenant_id, limit, cursor)
    set_next_cursor(response, page.next_cursor)
    return [key_item(v) for v in page.items]


@router.post("", status_code=201, response_model=KeyOut)
def create_key(body: KeyCreateIn, platform: PlatformDep, caller: CallerDep) -> KeyOut:
    """A new key (shown once): of a tenant, or another admin key (``admin: true``)."""
    opts = keys.options(platform, body.name, body.expires_at, body.ttl_s, body.scopes)
    issued = keys.create_key(platform, caller, body.tenant_id, opts, admin=body.admin)
    return issued_out(issued)


@router.post("/{key_id}/revoke", response_model=KeyItemOut)
def revoke_key(
    key_id: str, request: Request, platform: PlatformDep, caller: CallerDep
) -> KeyItemOut:
    """Revoke a key: it gets 401 from now on (the API and the inference gateway)."""
    view = keys.revoke_key(platform, caller, key_id)
    forget_cached_callers(request)
    return key_item(view)
