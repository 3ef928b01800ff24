"""Routing across several upstreams: weighted balancing, retries on another upstream (connect
error, 5xx, timeout before the first byte), cooldown and probe-back, fallbacks to another
model; exactly one usage record per client request, naming the upstream that served it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_support import Gateway, Tenant, running_gateway
from inference_support import FakeUpstream, ServerThread, free_port

pytestmark = pytest.mark.inference

BODY = {"model": "multi", "prompt": "a b c d", "max_tokens": 3}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    knobs = {"cooldown_s": 1.5, "retry_backoff_s": 0.01, "read_timeout_s": 2.5}
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}", **knobs) as gw:
        yield gw


@pytest.fixture
def second() -> Iterator[tuple[FakeUpstream, str]]:
    upstream = FakeUpstream()
    with ServerThread(upstream.app) as server:
        yield upstream, server.url


@pytest.fixture
def alice(gateway: Gateway) -> Tenant:
    return gateway.tenant("alice")


def ask(gateway: Gateway, tenant: Tenant, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/completions", json=body or BODY, headers=tenant.headers, timeout=30
    )


def served(upstream: FakeUpstream, model: str = "multi") -> int:
    return sum(1 for r in upstream.requests if r["model"] == model)


def test_requests_follow_the_weights_and_records_name_the_upstream(
    gateway: Gateway, alice: Tenant, second: tuple[FakeUpstream, str]
) -> None:
    other, other_url = second
    upstreams = [
        {"url": f"{gateway.upstream_url}/v1", "weight": 3},
        {"url": f"{other_url}/v1", "weight": 1},
    ]
    gateway.register("multi", upstream_url=None, upstreams=upstreams)
    assert all(ask(gateway, alice).status_code == 200 for _ in range(20))
    assert (served(gateway.upstream), served(other)) == (15, 5)
    records = gateway.records(alice.id)
    assert len(records) == 20 and {r.status for r in records} == {"completed"}
    names = [r.upstream for r in records]
    assert names.count(f"{gateway.upstream_url}/v1") == 15
    assert names.count(f"{other_url}/v1") == 5
    shown = gateway.admin.get("/v1/models/multi").json()
    assert [u["weight"] for u in shown["upstreams"]] == [3, 1]
    assert "api_key" not in str(shown["upstreams"])


def test_5xx_and_dead_upstreams_are_retried_elsewhere_then_cool_down_and_come_back(
    gateway: Gateway, alice: Tenant, second: tuple[FakeUpstream, str]
) -> None:
    other, other_url = second
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    upstreams = [
        {"url": f"{gateway.upstream_url}/v1"},
        {"url": f"{other_url}/v1"},
        {"url": dead},
    ]
    gateway.register("multi", upstream_url=None, upstreams=upstreams)
    other.failing = True
    start = time.monotonic()
    codes = [ask(gateway, alice).status_code for _ in range(24)]
    elapsed = time.monotonic() - start
    assert codes == [200] * 24  # every failure was retried on the healthy upstream
    records = gateway.records(alice.id)
    assert len(records) == 24  # one record per client request, whatever happened behind
    assert {r.upstream for r in records} == {f"{gateway.upstream_url}/v1"}
    # the failing ones were tried until they cooled down (3 failures each), then left alone
    # but for one probe per cooldown (1.5 s) that passed while the requests ran
    assert 3 <= served(other) <= 3 + int(elapsed / 1.5)
    # after the cooldown (doubled by each failed probe) a request probes the upstream again:
    # it is back once it recovers
    other.failing = False
    before, deadline = served(other), time.monotonic() + 20
    while served(other) == before:
        assert time.monotonic() < deadline, "the recovered upstream was never probed"
        assert ask(gateway, alice).status_code == 200
        time.sleep(0.2)
    assert all(ask(gateway, alice).status_code == 200 for _ in range(4))
    assert f"{other_url}/v1" in {r.upstream for r in gateway.records(alice.id)}


def test_timeout_before_the_first_byte_is_retried_on_another_upstream(
    gateway: Gateway, alice: Tenant, second: tuple[FakeUpstream, str]
) -> None:
    other, other_url = second
    upstreams = [{"url": f"{other_url}/v1", "weight": 100}, {"url": f"{gateway.upstream_url}/v1"}]
    gateway.register("multi", upstream_url=None, upstreams=upstreams)
    other.head_delay = 6.0  # longer than the gateway's 2.5 s read timeout
    start = time.monotonic()
    r = ask(gateway, alice, {**BODY, "stream": True})
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    assert time.monotonic() - start < 5.5
    [record] = gateway.records(alice.id)
    assert record.status == "completed" and record.upstream == f"{gateway.upstream_url}/v1"


def test_retries_are_bounded_and_metered_once(
    gateway: Gateway, alice: Tenant, second: tuple[FakeUpstream, str]
) -> None:
    other, other_url = second
    gateway.upstream.failing = other.failing = True
    upstreams = [
        {"url": f"{gateway.upstream_url}/v1"},
        {"url": f"{other_url}/v1"},
        {"url": f"{gateway.upstream_url}/v1", "model": "third"},
        {"url": f"{other_url}/v1", "model": "fourth"},
    ]
    gateway.register("multi", upstream_url=None, upstreams=upstreams)
    r = ask(gateway, alice)
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["type"] == "api_error" and "3 attempts failed" in error["message"]
    assert len(gateway.upstream.requests) + len(other.requests) == 3  # 1 + retries (2)
    [record] = gateway.records(alice.id)
    assert record.status == "upstream_error" and record.amount_usd == 0


def test_fallback_model_serves_when_every_upstream_failed(gateway: Gateway, alice: Tenant) -> None:
    gateway.register("backup", price_per_million_output_tokens="8.00")
    gateway.register("multi", upstream_model="fail-500", fallbacks=["backup"])
    r = ask(gateway, alice)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "backup"
    [record] = gateway.records(alice.id)
    assert record.model == "backup" and record.status == "completed"
    assert record.upstream == f"{gateway.upstream_url}/v1"
    stream = ask(gateway, alice, {**BODY, "stream": True})
    assert stream.status_code == 200 and '"model": "backup"' in stream.text
    assert len(gateway.records(alice.id)) == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"upstreams": []},
        {"upstreams": [{"url": "ftp://x"}]},
        {"upstreams": [{"url": "http://x/v1", "weight": 0}]},
        {"upstreams": [{"url": "http://x/v1"}], "upstream_url": "http://y/v1"},
        {"fallbacks": ["not-registered"]},
        {"fallbacks": ["multi"]},
    ],
)
def test_bad_routes_are_4xx(gateway: Gateway, fields: dict[str, object]) -> None:
    body = {
        "id": "multi",
        "upstream_url": f"{gateway.upstream_url}/v1",
        "price_per_million_input_tokens": "1",
        "price_per_million_output_tokens": "1",
    }
    if "upstreams" in fields and "upstream_url" not in fields:
        body.pop("upstream_url")
    body.update(fields)
    r = gateway.admin.post("/v1/models", json=body)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["message"]


def test_metrics_show_requests_tokens_durations_and_upstream_failures(
    gateway: Gateway, alice: Tenant, second: tuple[FakeUpstream, str]
) -> None:
    other, other_url = second
    upstreams = [{"url": f"{gateway.upstream_url}/v1"}, {"url": f"{other_url}/v1"}]
    gateway.register("multi", upstream_url=None, upstreams=upstreams)
    other.failing = True
    assert all(ask(gateway, alice).status_code == 200 for _ in range(4))
    text = httpx.get(f"{gateway.url}/metrics").text
    assert 'gigawatt_inference_requests_total{model="multi",status="completed"} 4.0' in text
    # "a b c d" is 4 prompt tokens, max_tokens 3 completion tokens, per request
    assert 'gigawatt_inference_tokens_total{kind="prompt",model="multi"} 16.0' in text
    assert 'gigawatt_inference_tokens_total{kind="completion",model="multi"} 12.0' in text
    assert 'gigawatt_inference_request_seconds_count{model="multi"} 4.0' in text
    failing = f'upstream="{other_url}/v1#multi"'
    assert f"gigawatt_inference_upstream_failures_total{{{failing}}} " in text
    assert f"gigawatt_inference_upstream_served_total{{{failing}}} 0.0" in text
