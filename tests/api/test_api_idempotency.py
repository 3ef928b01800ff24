"""``Idempotency-Key`` on SQLite and PostgreSQL: a retry returns the first result and creates
nothing, another body is a 409, keys are per tenant, concurrent retries on two servers over
one database create exactly one job, and a key survives a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from api_support import ADMIN_KEY, T0, Api, api_fleet
from fastapi.testclient import TestClient

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.services.platform import Platform, open_platform
from gigawatt.services.settings import Settings
from server_thread import ServerThread

JOB = {"name": "train", "command": ["python", "-c", "pass"], "gpus": 1, "gpu_type": "H100"}


def _with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def _jobs(api: Api, headers: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.client.get("/v1/jobs", headers=headers).json()
    return found


def test_a_retry_returns_the_first_result_and_creates_nothing(api: Api) -> None:
    _, headers = api.tenant("acme")
    body = {**JOB, "tier": "spot"}
    first = api.client.post("/v1/jobs", json=body, headers=_with_key(headers, "k-1"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    api.clock.advance(10)
    again = api.client.post("/v1/jobs", json=body, headers=_with_key(headers, "k-1"))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # the same request with its JSON keys in another order is the same request
    shuffled = json.dumps(dict(reversed(list(body.items()))))
    third = api.client.post(
        "/v1/jobs",
        content=shuffled,
        headers={**_with_key(headers, "k-1"), "Content-Type": "application/json"},
    )
    assert third.status_code == 201 and third.json()["id"] == first.json()["id"]
    assert [j["id"] for j in _jobs(api, headers)] == [first.json()["id"]]
    # without a key every POST creates
    api.client.post("/v1/jobs", json=body, headers=headers)
    assert len(_jobs(api, headers)) == 2


def test_the_same_key_with_another_body_is_409(api: Api) -> None:
    _, headers = api.tenant("acme")
    ok = api.client.post("/v1/jobs", json={**JOB, "tier": "spot"}, headers=_with_key(headers, "k"))
    assert ok.status_code == 201
    other = api.client.post(
        "/v1/jobs", json={**JOB, "tier": "on_demand"}, headers=_with_key(headers, "k")
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    tenant = api.client.post(
        "/v1/tenants", json={"name": "x", "kind": "external"}, headers=_with_key(headers, "k")
    )
    assert tenant.status_code == 409  # the same key on another endpoint is another request
    assert len(_jobs(api, headers)) == 1


def test_keys_are_scoped_per_tenant(api: Api) -> None:
    _, a = api.tenant("acme")
    _, b = api.tenant("bolt")
    ra = api.client.post("/v1/jobs", json={**JOB, "tier": "spot"}, headers=_with_key(a, "same"))
    rb = api.client.post("/v1/jobs", json={**JOB, "tier": "spot"}, headers=_with_key(b, "same"))
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]
    assert ra.json()["tenant_id"] != rb.json()["tenant_id"]


def test_errors_are_replayed_but_server_side_failures_are_not_kept(api: Api) -> None:
    _, headers = api.tenant("acme")
    bad = {**JOB, "tier": "spot", "gpus": 4096}  # can never fit the fleet: 422
    first = api.client.post("/v1/jobs", json=bad, headers=_with_key(headers, "e"))
    again = api.client.post("/v1/jobs", json=bad, headers=_with_key(headers, "e"))
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"


def test_every_creating_post_is_idempotent(api: Api) -> None:
    h = _with_key(api.admin, "t-1")
    t1 = api.client.post("/v1/tenants", json={"name": "acme", "kind": "external"}, headers=h)
    t2 = api.client.post("/v1/tenants", json={"name": "acme", "kind": "external"}, headers=h)
    assert t1.status_code == t2.status_code == 201 and t1.json() == t2.json()
    tid = t1.json()["id"]
    k1 = api.client.post(f"/v1/tenants/{tid}/keys", headers=_with_key(api.admin, "k-1"))
    k2 = api.client.post(f"/v1/tenants/{tid}/keys", headers=_with_key(api.admin, "k-1"))
    assert k1.status_code == k2.status_code == 201 and k1.json()["id"] == k2.json()["id"]
    assert k1.json()["key"] and k2.json()["key"] is None  # the secret is never stored
    assert len(api.client.get("/v1/keys", headers=api.admin).json()) == 1
    res = {"gpu_type": "H100", "gpus": 2}
    r1 = api.client.post(
        f"/v1/tenants/{tid}/reservations", json=res, headers=_with_key(api.admin, "r")
    )
    r2 = api.client.post(
        f"/v1/tenants/{tid}/reservations", json=res, headers=_with_key(api.admin, "r")
    )
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    listed = api.client.get(f"/v1/tenants/{tid}/reservations", headers=api.admin).json()
    assert len(listed) == 1
    tenant_key = {"Authorization": f"Bearer {k1.json()['key']}"}
    s1 = api.client.post("/v1/keys", json={"name": "ci"}, headers=_with_key(tenant_key, "s"))
    s2 = api.client.post("/v1/keys", json={"name": "ci"}, headers=_with_key(tenant_key, "s"))
    assert s1.json()["id"] == s2.json()["id"]


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"tab\there", "é".encode()])
def test_a_malformed_key_is_400(api: Api, key: bytes) -> None:
    _, headers = api.tenant("acme")
    r = api.client.post(
        "/v1/jobs",
        json={**JOB, "tier": "spot"},
        headers=[*headers.items(), ("Idempotency-Key", key)],
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    assert _jobs(api, headers) == []


def test_a_bad_api_key_with_an_idempotency_key_is_still_401(api: Api) -> None:
    r = api.client.post(
        "/v1/jobs",
        json={**JOB, "tier": "spot"},
        headers={"Authorization": "Bearer nope", "Idempotency-Key": "k"},
    )
    assert r.status_code == 401


def _platform(db_url: str, clock: ManualClock) -> Platform:
    settings = Settings(database_url=db_url, admin_key=ADMIN_KEY, run_control_loop=False)
    return open_platform(settings, FakeBackend(clock), fleet=api_fleet(), clock=clock)


@contextmanager
def _two_servers(db_url: str) -> Iterator[list[str]]:
    """Two apps, each with its own platform and engine, over one database."""
    clock = ManualClock(T0)
    platforms = [_platform(db_url, clock) for _ in range(2)]
    with ExitStack() as stack:
        urls = [stack.enter_context(ServerThread(create_app(p))).url for p in platforms]
        yield urls
    for p in platforms:
        p.engine.dispose()


def test_concurrent_retries_on_two_servers_create_exactly_one_job(db_url: str) -> None:
    with _two_servers(db_url) as urls:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        t = httpx.post(
            f"{urls[0]}/v1/tenants", json={"name": "a", "kind": "external"}, headers=admin
        )
        k = httpx.post(f"{urls[0]}/v1/tenants/{t.json()['id']}/keys", headers=admin)
        headers = {"Authorization": f"Bearer {k.json()['key']}", "Idempotency-Key": "once"}
        results: list[httpx.Response] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def post(i: int) -> None:
            start.wait()
            r = httpx.post(
                f"{urls[i % 2]}/v1/jobs", json={**JOB, "tier": "spot"}, headers=headers, timeout=60
            )
            with lock:
                results.append(r)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(90)
        assert len(results) == 8
        assert {r.status_code for r in results} == {201}, [r.text for r in results]
        assert len({r.json()["id"] for r in results}) == 1
        assert sum("idempotent-replayed" not in r.headers for r in results) == 1
        listed = httpx.get(f"{urls[1]}/v1/jobs", headers=headers).json()
        assert [j["id"] for j in listed] == [results[0].json()["id"]]


def test_a_key_holds_across_a_restart(db_url: str) -> None:
    clock = ManualClock(T0)
    first = _platform(db_url, clock)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": "boot"}
    body = {"name": "acme", "kind": "external"}
    with TestClient(create_app(first)) as client:
        before = client.post("/v1/tenants", json=body, headers=admin)
    first.engine.dispose()
    second = _platform(db_url, clock)
    with TestClient(create_app(second)) as client:
        after = client.post("/v1/tenants", json=body, headers=admin)
        assert after.status_code == 201 and after.json() == before.json()
        assert len(client.get("/v1/tenants", headers=admin).json()) == 1
    second.engine.dispose()
