"""API keys: hashed at rest, shown once, constant-time checked; the admin key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from gigawatt.core.errors import NotFound, Unauthorized
from gigawatt.services import auth, tenants
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.models import ApiKeyModel


def test_tenant_keys_are_stored_hashed_and_authenticate(platform: Platform) -> None:
    t = tenants.create_tenant(platform, "acme", "external")
    issued = auth.issue_key(platform, t.id)
    assert issued.key.startswith(f"gw_{issued.key_id}_")
    who = auth.authenticate(platform, f"Bearer {issued.key}")
    assert (who.is_admin, who.tenant_id, who.tenant_kind) == (False, t.id, "external")
    with transaction(platform.sessions) as s:
        rows = s.scalars(select(ApiKeyModel)).all()
    assert [r.key_hash for r in rows] == [auth.hash_key(issued.key)]
    assert all(issued.key not in (r.id, r.key_hash) for r in rows)
    with pytest.raises(Unauthorized):
        auth.authenticate(platform, f"Bearer {issued.key}x")
    with pytest.raises(NotFound):
        auth.issue_key(platform, "ten_missing")


def test_env_admin_key_is_accepted_and_never_stored(platform: Platform) -> None:
    assert auth.authenticate(platform, "Bearer adm").is_admin
    assert auth.ensure_admin_key(platform) is None
    with pytest.raises(Unauthorized):
        auth.authenticate(platform, "Bearer admx")


def test_generated_admin_key_is_made_once(make_platform: Callable[..., Platform]) -> None:
    platform = make_platform(admin_key=None)
    key = auth.ensure_admin_key(platform)
    assert key is not None and key.startswith("gw_admin_")
    assert auth.ensure_admin_key(platform) is None  # second start: nothing printed
    assert auth.authenticate(platform, f"Bearer {key}").is_admin
    with pytest.raises(Unauthorized):
        auth.authenticate(platform, "Bearer adm")
