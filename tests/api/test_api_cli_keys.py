"""``gigawatt keys create|list|revoke`` against a real server over HTTP (SQLite and
PostgreSQL): secrets never listed, every page followed, a revoked key refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_support import ADMIN_KEY, T0, api_fleet
from typer.testing import CliRunner

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.cli.main import app
from gigawatt.core.clock import ManualClock
from gigawatt.services.platform import open_platform
from gigawatt.services.settings import Settings
from server_thread import ServerThread


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    clock = ManualClock(T0)
    settings = Settings(database_url=db_url, admin_key=ADMIN_KEY, run_control_loop=False)
    platform = open_platform(settings, FakeBackend(clock), fleet=api_fleet(), clock=clock)
    with ServerThread(create_app(platform)) as server:
        yield server.url
    platform.engine.dispose()


def _cli(url: str, key: str, *args: str) -> tuple[int, str, str]:
    env = {"GIGAWATT_URL": url, "GIGAWATT_API_KEY": key}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _json(url: str, key: str, *args: str) -> Any:
    code, out, err = _cli(url, key, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_keys_create_list_revoke(url: str) -> None:
    tenant = _json(url, ADMIN_KEY, "tenants", "create", "acme")
    first = _json(url, ADMIN_KEY, "keys", "create", tenant["id"], "--name", "ci", "--ttl-s", "600")
    assert first["key"].startswith(first["prefix"]) and first["expires_at"] == T0 + 600
    scoped = _json(url, first["key"], "keys", "create", "--scope", "small", "--scope", "big")
    assert scoped["tenant_id"] == tenant["id"] and scoped["scopes"] == ["small", "big"]
    for _ in range(120):  # more than one page of the listing (100 a page)
        _json(url, ADMIN_KEY, "keys", "create", tenant["id"])
    listed = _json(url, ADMIN_KEY, "keys", "list", "--tenant", tenant["id"])
    assert len(listed) == 122 and len({k["id"] for k in listed}) == 122
    code, out, _ = _cli(url, first["key"], "keys", "list")
    assert code == 0 and first["prefix"] in out
    assert first["key"] not in out and scoped["key"] not in out
    revoked = _json(url, first["key"], "keys", "revoke", scoped["id"])
    assert revoked["revoked_at"] is not None
    r = httpx.get(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {scoped['key']}"})
    assert r.status_code == 401
    code, _, err = _cli(url, first["key"], "keys", "revoke", "nope")
    assert code == 2 and "not_found" in err
    admin2 = _json(url, ADMIN_KEY, "keys", "create", "--admin", "--name", "rotated")
    assert admin2["is_admin"] and _json(url, admin2["key"], "tenants", "list")
