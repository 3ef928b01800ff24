"""Bad input and failures: 4xx in the OpenAI format, never a 500; upstream errors billed
nothing with a reason; a client leaving mid-stream billed for what was generated."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from gateway_support import Gateway, Tenant, running_gateway
from inference_support import free_port

from gigawatt.store.db import transaction
from gigawatt.store.inference_models import DeploymentModel, ReplicaModel

CHAT = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gateway(tmp_path: Any) -> Iterator[Gateway]:
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}") as gw:
        gw.register("small")
        yield gw


@pytest.fixture
def alice(gateway: Gateway) -> Tenant:
    return gateway.tenant("alice")


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["message"] and error["type"] and error["code"], error
    return error


def test_missing_or_bad_key_is_401(gateway: Gateway) -> None:
    url = f"{gateway.url}/v1/chat/completions"
    body = {"model": "small", "messages": CHAT}
    assert _error(httpx.post(url, json=body), 401)["type"] == "authentication_error"
    bad = httpx.post(url, json=body, headers={"Authorization": "Bearer gw_nope_nope"})
    _error(bad, 401)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_unknown_model_is_404(gateway: Gateway, alice: Tenant) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        alice.openai(gateway).chat.completions.create(model="nope", messages=CHAT)  # type: ignore[arg-type]
    assert "nope" in info.value.message
    assert gateway.records() == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": "small", "messages": [{"content": "no role"}]},
        {"model": "small", "messages": [{"role": "wizard", "content": "x"}]},
        {"model": "small", "messages": "hello"},
        {"model": "small", "messages": []},
        {"model": "small", "messages": [{"role": "user", "content": 42}]},
        {"model": "small", "messages": CHAT, "max_tokens": -5},
        {"model": "small", "messages": CHAT, "max_tokens": "ten"},
        {"model": "small", "messages": CHAT, "temperature": 9},
        {"model": "small", "messages": CHAT, "stream": "yes"},
        {"messages": CHAT},
        [1, 2, 3],
    ],
)
def test_malformed_requests_are_400(gateway: Gateway, alice: Tenant, body: object) -> None:
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=alice.headers)
    assert _error(r, 400)["type"] == "invalid_request_error"


def test_non_json_and_oversized_bodies(gateway: Gateway, alice: Tenant) -> None:
    url = f"{gateway.url}/v1/completions"
    _error(httpx.post(url, content=b"{not json", headers=alice.headers), 400)
    _error(httpx.post(url, content=b"\xff\xfe", headers=alice.headers), 400)
    huge = httpx.post(url, content=b"x" * (5 << 20), headers=alice.headers)
    assert huge.status_code == 413


def test_admin_key_cannot_run_inference(gateway: Gateway) -> None:
    r = gateway.admin.post("/v1/chat/completions", json={"model": "small", "messages": CHAT})
    assert _error(r, 403)["type"] == "permission_error"


def test_upstream_500_is_502_and_billed_nothing(gateway: Gateway, alice: Tenant) -> None:
    gateway.register("broken", upstream_model="fail-500")
    with pytest.raises(openai.APIStatusError) as info:
        alice.openai(gateway).chat.completions.create(model="broken", messages=CHAT)  # type: ignore[arg-type]
    assert info.value.status_code == 502
    [record] = gateway.records(alice.id)
    assert record.status == "upstream_error" and record.amount_usd == 0
    assert "HTTP 500" in record.reason and "upstream exploded" in record.reason


def test_upstream_400_is_relayed_and_billed_nothing(gateway: Gateway, alice: Tenant) -> None:
    gateway.register("strict", upstream_model="reject-400")
    with pytest.raises(openai.BadRequestError) as info:
        alice.openai(gateway).completions.create(model="strict", prompt="long " * 100)
    assert info.value.code == "context_length_exceeded"
    [record] = gateway.records(alice.id)
    assert (record.status, record.prompt_tokens, record.amount_usd) == ("upstream_error", 0, 0)


def test_unreachable_upstream_is_502(gateway: Gateway, alice: Tenant) -> None:
    gateway.register("gone", upstream_url=f"http://127.0.0.1:{free_port()}/v1")
    for stream in (False, True):
        r = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            headers=alice.headers,
            json={"model": "gone", "messages": CHAT, "stream": stream},
        )
        assert _error(r, 502)["code"] == "upstream_unreachable"
    records = gateway.records(alice.id)
    assert [r.status for r in records] == ["upstream_error"] * 2
    assert all("cannot connect" in r.reason for r in records)


def test_upstream_dying_mid_stream_bills_nothing(gateway: Gateway, alice: Tenant) -> None:
    gateway.register("flaky", upstream_model="die-mid-stream")
    stream = alice.openai(gateway).chat.completions.create(
        model="flaky",
        messages=CHAT,
        max_tokens=10,
        stream=True,  # type: ignore[arg-type]
    )
    with pytest.raises(openai.APIError):
        list(stream)
    [record] = gateway.records(alice.id)
    assert record.status == "upstream_error" and record.amount_usd == 0
    assert "2 content chunks" in record.reason


def test_client_disconnect_mid_stream_bills_what_was_generated(
    gateway: Gateway, alice: Tenant
) -> None:
    body = {"model": "small", "messages": CHAT, "max_tokens": 200, "stream": True, "x_delay": 0.02}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body, headers=alice.headers, timeout=30
    ) as r:
        assert r.status_code == 200
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen += 1
            if seen == 5:
                break
    deadline = time.monotonic() + 10
    while not gateway.records(alice.id):
        assert time.monotonic() < deadline, "no usage record after the disconnect"
        time.sleep(0.05)
    time.sleep(0.3)
    [record] = gateway.records(alice.id)
    assert record.status == "client_disconnected"
    assert 5 <= record.completion_tokens < 200
    assert record.amount_usd > 0 and "disconnected" in record.reason
    # the gateway cancelled the upstream at once: it stopped generating within a few chunks,
    # and the record bills no more than the upstream produced
    [(produced, finished)] = gateway.upstream.streams
    assert not finished and record.completion_tokens <= produced < 5 + 25


def test_disconnect_while_the_upstream_is_ahead_stops_the_relay(
    gateway: Gateway, alice: Tenant
) -> None:
    """The upstream sends its whole answer at once (the gateway lags behind it): a client
    that leaves after one event is still billed as disconnected, not as completed."""
    body = {"model": "small", "prompt": "a b", "max_tokens": 5000, "stream": True}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/completions", json=body, headers=alice.headers, timeout=30
    ) as r:
        assert r.status_code == 200
        next(r.iter_bytes())
    deadline = time.monotonic() + 10
    while not gateway.records(alice.id):
        assert time.monotonic() < deadline, "no usage record after the disconnect"
        time.sleep(0.05)
    [record] = gateway.records(alice.id)
    assert record.status == "client_disconnected", record.reason
    assert 1 <= record.completion_tokens < 5000


@pytest.mark.parametrize(
    "fields",
    [
        {"model_path": "/tmp"},  # both routes
        {"upstream_url": None},  # neither
        {"upstream_url": "ftp://example.com/v1"},
        {"upstream_url": "not a url"},
        {"price_per_million_input_tokens": "-1"},
        {"price_per_million_output_tokens": "0.0000001"},
        {"price_per_million_output_tokens": "NaN"},
        {"id": ""},
        {"id": "has space"},
        {"surprise": True},
    ],
)
def test_bad_model_registrations_are_400(gateway: Gateway, fields: dict[str, Any]) -> None:
    body: dict[str, Any] = {
        "id": "m",
        "upstream_url": "http://127.0.0.1:9/v1",
        "price_per_million_input_tokens": "1",
        "price_per_million_output_tokens": "1",
    }
    body.update(fields)
    _error(gateway.admin.post("/v1/models", json=body), 400)


def test_model_path_must_be_a_model_directory(gateway: Gateway, tmp_path: Any) -> None:
    for path in ("relative/dir", str(tmp_path)):
        body = {
            "id": "local",
            "model_path": path,
            "price_per_million_input_tokens": 1,
            "price_per_million_output_tokens": 1,
        }
        assert "model_path" in _error(gateway.admin.post("/v1/models", json=body), 400)["message"]


def test_bad_deployments_are_4xx(gateway: Gateway, alice: Tenant, tmp_path: Any) -> None:
    (tmp_path / "config.json").write_text("{}")
    local = {
        "id": "local",
        "model_path": str(tmp_path),
        "price_per_million_input_tokens": 1,
        "price_per_million_output_tokens": 1,
    }
    assert gateway.admin.post("/v1/models", json=local).status_code == 201
    base = {"model": "local", "gpus": 1, "gpu_type": "H100", "replicas": 1, "tier": "spot"}
    url = f"{gateway.url}/v1/deployments"
    cases = [
        (gateway.admin, {**base}, 422),  # the admin must name a tenant
        (gateway.admin, {**base, "tenant_id": "ten_nope"}, 404),
        (gateway.admin, {**base, "tenant_id": alice.id, "model": "small"}, 422),
        (gateway.admin, {**base, "tenant_id": alice.id, "model": "nope"}, 404),
        (gateway.admin, {**base, "tenant_id": alice.id, "gpu_type": "Z9"}, 422),
        (gateway.admin, {**base, "tenant_id": alice.id, "gpus": 0}, 400),
        (gateway.admin, {**base, "tenant_id": alice.id, "replicas": "two"}, 400),
        (gateway.admin, {**base, "tenant_id": alice.id, "tier": "internal"}, 403),
    ]
    for client, body, status in cases:
        _error(client.post(url, json=body), status)
    other = httpx.post(url, json={**base, "tenant_id": "ten_other"}, headers=alice.headers)
    _error(other, 403)
    assert httpx.get(url, headers=alice.headers).json() == {"data": []}
    _error(httpx.get(f"{url}/dep_nope", headers=alice.headers), 404)
    token = httpx.post(f"{url}/dep_nope/replicas", json={"replica_id": "r", "url": "http://x"})
    _error(token, 401)


def test_disconnect_from_a_replica_bills_its_running_usage(
    gateway: Gateway, alice: Tenant, tmp_path: Any
) -> None:
    """A replica reports running usage on every chunk: a stream cut short is billed exactly,
    prompt included, and the client never sees the usage it did not ask for."""
    (tmp_path / "config.json").write_text("{}")
    local = {
        "id": "local",
        "model_path": str(tmp_path),
        "price_per_million_input_tokens": 1,
        "price_per_million_output_tokens": 1,
    }
    assert gateway.admin.post("/v1/models", json=local).status_code == 201
    now = time.time()
    with transaction(gateway.platform.sessions) as s:  # a replica served by the fake upstream
        s.add(
            DeploymentModel(
                id="dep_t",
                model_id="local",
                tenant_id=alice.id,
                gpus=1,
                gpu_type="H100",
                tier="spot",
                replicas=1,
                max_batch_size=8,
                status="active",
                register_url="-",
                replica_token="t",
                failures=0,
                reason="",
                created_at=now,
            )
        )
        s.flush()
        s.add(
            ReplicaModel(
                id="rep_t",
                deployment_id="dep_t",
                job_id="job_t",
                url=gateway.upstream_url,
                status="ready",
                created_at=now,
                updated_at=now,
            )
        )
    body = {
        "model": "local",
        "prompt": "one two three",
        "max_tokens": 200,
        "stream": True,
        "x_delay": 0.02,
    }
    with httpx.stream(
        "POST", f"{gateway.url}/v1/completions", json=body, headers=alice.headers, timeout=30
    ) as r:
        assert r.status_code == 200
        events = []
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            if len(events) == 4:
                break
    assert all("usage" not in e for e in events)
    assert gateway.upstream.requests[-1]["stream_options"]["continuous_usage_stats"] is True
    deadline = time.monotonic() + 10
    while not gateway.records(alice.id):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    [record] = gateway.records(alice.id)
    assert record.status == "client_disconnected" and record.prompt_tokens == 3
    assert 4 <= record.completion_tokens < 200


def test_client_leaving_a_non_streaming_request_cancels_the_upstream_call(
    gateway: Gateway, alice: Tenant
) -> None:
    gateway.upstream.head_delay = 3.0  # the upstream takes 3 s to answer
    body = {"model": "small", "messages": CHAT, "max_tokens": 5}
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway.url}/v1/chat/completions", json=body, headers=alice.headers, timeout=0.5
        )
    deadline = time.monotonic() + 10
    while not gateway.records(alice.id):
        assert time.monotonic() < deadline, "no usage record after the disconnect"
        time.sleep(0.05)
    assert time.monotonic() - start < 2.5  # metered at the disconnect, not at the answer
    [record] = gateway.records(alice.id)
    assert record.status == "client_disconnected" and record.amount_usd == 0
    assert "cancelled" in record.reason
