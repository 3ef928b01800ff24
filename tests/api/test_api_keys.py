"""API keys over real HTTP on SQLite and PostgreSQL: list without secrets, revoke at once,
expiry, coarse last-use stamps, self-service keys and admin key rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import ADMIN_KEY, T0, Api, api_fleet
from fastapi.testclient import TestClient

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.services import auth
from gigawatt.services.platform import open_platform
from gigawatt.services.settings import Settings

ITEM_FIELDS = {
    "id",
    "tenant_id",
    "prefix",
    "name",
    "is_admin",
    "created_at",
    "last_used_at",
    "expires_at",
    "scopes",
    "revoked_at",
}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_key_list_never_leaks_secrets_or_other_tenants_keys(api: Api) -> None:
    a_id, a_headers = api.tenant("acme")
    b_id, b_headers = api.tenant("bolt")
    extra = api.client.post(
        f"/v1/tenants/{a_id}/keys", json={"name": "ci"}, headers=api.admin
    ).json()
    secrets = [h["Authorization"].split()[1] for h in (a_headers, b_headers)] + [extra["key"]]
    mine = api.client.get("/v1/keys", headers=a_headers)
    assert mine.status_code == 200 and "X-Next-Cursor" not in mine.headers
    items = mine.json()
    assert {i["tenant_id"] for i in items} == {a_id} and len(items) == 2
    assert all(set(i) == ITEM_FIELDS for i in items)
    assert next(i for i in items if i["id"] == extra["id"])["name"] == "ci"
    assert extra["key"].startswith(extra["prefix"] + "_")
    admin = api.client.get("/v1/keys", headers=api.admin)
    assert {i["tenant_id"] for i in admin.json()} == {a_id, b_id}
    only_b = api.client.get("/v1/keys", params={"tenant_id": b_id}, headers=api.admin).json()
    assert [i["tenant_id"] for i in only_b] == [b_id]
    for response in (mine, admin):
        assert not any(secret in response.text for secret in secrets)
        assert "hash" not in response.text
    # a tenant asking for another tenant's keys still sees only its own
    sneaky = api.client.get("/v1/keys", params={"tenant_id": b_id}, headers=a_headers).json()
    assert {i["tenant_id"] for i in sneaky} == {a_id}


def test_revoke_takes_effect_at_once_and_only_within_the_tenant(api: Api) -> None:
    a_id, a_headers = api.tenant("acme")
    _, b_headers = api.tenant("bolt")
    second = api.client.post(f"/v1/tenants/{a_id}/keys", headers=api.admin).json()
    assert api.client.get("/v1/jobs", headers=_bearer(second["key"])).status_code == 200
    b_key_id = api.client.get("/v1/keys", headers=b_headers).json()[0]["id"]
    refused = api.client.post(f"/v1/keys/{b_key_id}/revoke", headers=a_headers)
    assert refused.status_code == 404  # another tenant's key does not exist for acme
    assert api.client.get("/v1/jobs", headers=b_headers).status_code == 200
    api.clock.advance(5)
    done = api.client.post(f"/v1/keys/{second['id']}/revoke", headers=a_headers)
    assert done.status_code == 200, done.text
    assert done.json()["revoked_at"] == T0 + 5 and set(done.json()) == ITEM_FIELDS
    r = api.client.get("/v1/jobs", headers=_bearer(second["key"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert "revoked" in r.json()["error"]["message"]
    again = api.client.post(f"/v1/keys/{second['id']}/revoke", headers=a_headers)
    assert again.status_code == 200 and again.json()["revoked_at"] == T0 + 5
    # the admin revokes any tenant's key
    assert api.client.post(f"/v1/keys/{b_key_id}/revoke", headers=api.admin).status_code == 200
    assert api.client.get("/v1/jobs", headers=b_headers).status_code == 401
    assert api.client.post("/v1/keys/nope/revoke", headers=api.admin).status_code == 404


def test_expired_key_gets_401(api: Api) -> None:
    a_id, _ = api.tenant("acme")
    short = api.client.post(f"/v1/tenants/{a_id}/keys", json={"ttl_s": 60}, headers=api.admin)
    assert short.status_code == 201 and short.json()["expires_at"] == T0 + 60
    at = api.client.post(
        f"/v1/tenants/{a_id}/keys", json={"expires_at": T0 + 30}, headers=api.admin
    ).json()
    assert api.client.get("/v1/jobs", headers=_bearer(short.json()["key"])).status_code == 200
    api.clock.advance(30)
    r = api.client.get("/v1/jobs", headers=_bearer(at["key"]))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert api.client.get("/v1/jobs", headers=_bearer(short.json()["key"])).status_code == 200
    api.clock.advance(30)
    assert api.client.get("/v1/jobs", headers=_bearer(short.json()["key"])).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"ttl_s": 0},
        {"ttl_s": 10, "expires_at": T0 + 100},
        {"expires_at": T0 - 1},
        {"scopes": []},
        {"scopes": ["bad model id!"]},
        {"name": "x" * 65},
        {"secret": "mine"},
    ],
)
def test_bad_key_options_are_422(api: Api, body: dict[str, object]) -> None:
    a_id, _ = api.tenant("acme")
    r = api.client.post(f"/v1/tenants/{a_id}/keys", json=body, headers=api.admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text


def test_last_used_at_is_written_at_most_once_a_minute(api: Api) -> None:
    _, headers = api.tenant("acme")

    def last_used() -> float | None:
        (item,) = api.client.get("/v1/keys", headers=api.admin).json()
        stamp: float | None = item["last_used_at"]
        return stamp

    assert last_used() is None
    api.client.get("/v1/jobs", headers=headers)
    assert last_used() == T0
    api.clock.advance(59)
    api.client.get("/v1/jobs", headers=headers)
    assert last_used() == T0  # no write within the minute
    api.clock.advance(1)
    api.client.get("/v1/jobs", headers=headers)
    assert last_used() == T0 + 60


def test_tenants_create_their_own_keys_no_broader_than_theirs(api: Api) -> None:
    a_id, a_headers = api.tenant("acme")
    b_id, _ = api.tenant("bolt")
    own = api.client.post("/v1/keys", json={"name": "laptop"}, headers=a_headers)
    assert own.status_code == 201 and own.json()["tenant_id"] == a_id
    assert not own.json()["is_admin"]
    other = api.client.post("/v1/keys", json={"tenant_id": b_id}, headers=a_headers)
    assert other.status_code == 403
    admin_try = api.client.post("/v1/keys", json={"admin": True}, headers=a_headers)
    assert admin_try.status_code == 403
    scoped = api.client.post(
        f"/v1/tenants/{a_id}/keys", json={"scopes": ["small"]}, headers=api.admin
    ).json()
    assert scoped["scopes"] == ["small"]
    wider = api.client.post("/v1/keys", json={}, headers=_bearer(scoped["key"]))
    assert wider.status_code == 403
    narrow = api.client.post("/v1/keys", json={"scopes": ["small"]}, headers=_bearer(scoped["key"]))
    assert narrow.status_code == 201 and narrow.json()["scopes"] == ["small"]
    assert api.client.post("/v1/keys", json={}, headers=api.admin).status_code == 422


@pytest.fixture
def generated_admin(db_url: str) -> Iterator[tuple[TestClient, str]]:
    """A server without GIGAWATT_ADMIN_KEY: the admin key is generated and stored."""
    clock = ManualClock(T0)
    settings = Settings(database_url=db_url, run_control_loop=False)
    platform = open_platform(settings, FakeBackend(clock), fleet=api_fleet(), clock=clock)
    key = auth.ensure_admin_key(platform)
    assert key is not None
    with TestClient(create_app(platform)) as client:
        yield client, key
    platform.engine.dispose()


def test_admin_key_rotates_without_downtime(generated_admin: tuple[TestClient, str]) -> None:
    client, old = generated_admin
    old_id = client.get("/v1/keys", headers=_bearer(old)).json()[0]["id"]
    last = client.post(f"/v1/keys/{old_id}/revoke", headers=_bearer(old))
    assert last.status_code == 409  # the last admin key: that would lock the admin out
    new = client.post("/v1/keys", json={"admin": True, "name": "2027"}, headers=_bearer(old))
    assert new.status_code == 201 and new.json()["is_admin"] and new.json()["tenant_id"] is None
    fresh = _bearer(new.json()["key"])
    # both work during the switch-over
    assert client.get("/v1/tenants", headers=_bearer(old)).status_code == 200
    assert client.get("/v1/tenants", headers=fresh).status_code == 200
    assert client.post(f"/v1/keys/{old_id}/revoke", headers=fresh).status_code == 200
    assert client.get("/v1/tenants", headers=_bearer(old)).status_code == 401
    assert client.get("/v1/tenants", headers=fresh).status_code == 200
    made = client.post("/v1/tenants", json={"name": "t", "kind": "external"}, headers=fresh)
    assert made.status_code == 201
    assert client.post(f"/v1/keys/{new.json()['id']}/revoke", headers=fresh).status_code == 409


def test_env_admin_key_may_revoke_every_stored_admin_key(api: Api) -> None:
    new = api.client.post("/v1/keys", json={"admin": True}, headers=api.admin).json()
    r = api.client.post(f"/v1/keys/{new['id']}/revoke", headers=api.admin)
    assert r.status_code == 200  # GIGAWATT_ADMIN_KEY still works
    assert api.client.get("/v1/tenants", headers=_bearer(new["key"])).status_code == 401
    assert api.client.get("/v1/tenants", headers=api.admin).status_code == 200
    assert ADMIN_KEY not in api.client.get("/v1/keys", headers=api.admin).text
