"""API keys at the inference gateway (SQLite and PostgreSQL): a key scoped to some models gets
a 403 for the others, and a revoked or expired key gets a 401 at once even though the gateway
caches successful authentications."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from gateway_support import Gateway, running_gateway


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    with running_gateway(db_url, cache_ttl_s=60.0) as gw:  # a long cache: revocation clears it
        yield gw


def _chat(gateway: Gateway, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
    )


def test_a_scoped_key_may_call_only_its_models(gateway: Gateway) -> None:
    gateway.register("small")
    gateway.register("large")
    alice = gateway.tenant("alice")
    r = gateway.admin.post(f"/v1/tenants/{alice.id}/keys", json={"scopes": ["small"]})
    assert r.status_code == 201, r.text
    scoped = r.json()["key"]
    assert _chat(gateway, scoped, "small").status_code == 200
    refused = _chat(gateway, scoped, "large")
    assert refused.status_code == 403, refused.text
    assert "scope" in refused.text
    assert _chat(gateway, alice.key, "large").status_code == 200  # an unscoped key: any model
    assert len(gateway.records(alice.id)) == 2  # the refused call was not billed


def test_revoked_and_expired_keys_get_401_at_once_despite_the_cache(gateway: Gateway) -> None:
    gateway.register("small")
    alice = gateway.tenant("alice")
    assert _chat(gateway, alice.key, "small").status_code == 200  # now cached for 60 s
    revoked = httpx.post(f"{gateway.url}/v1/keys/{alice.key_id}/revoke", headers=alice.headers)
    assert revoked.status_code == 200, revoked.text
    assert _chat(gateway, alice.key, "small").status_code == 401
    short = gateway.admin.post(f"/v1/tenants/{alice.id}/keys", json={"ttl_s": 1}).json()
    assert _chat(gateway, short["key"], "small").status_code == 200  # cached too
    time.sleep(max(0.0, short["expires_at"] - time.time()) + 0.05)
    assert _chat(gateway, short["key"], "small").status_code == 401


def test_model_registration_takes_an_idempotency_key(gateway: Gateway) -> None:
    body = {
        "id": "small",
        "upstream_url": f"{gateway.upstream_url}/v1",
        "price_per_million_input_tokens": "1.50",
        "price_per_million_output_tokens": "4.00",
    }
    headers = {"Idempotency-Key": "reg-1"}
    first = gateway.admin.post("/v1/models", json=body, headers=headers)
    again = gateway.admin.post("/v1/models", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = gateway.admin.post("/v1/models", json={**body, "id": "big"}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
