"""Budgets never overshoot: admission reserves each request's maximum cost in the spend
counter metering writes, and metering settles it to the real cost (SQLite and PostgreSQL)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from gateway_support import Gateway, Tenant, amount, max_cost, running_gateway

from gigawatt.store.db import transaction
from gigawatt.store.inference_models import InferenceCounterModel

pytestmark = pytest.mark.inference


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    with running_gateway(db_url) as gw:
        gw.register("small")
        yield gw


def stream(gateway: Gateway, tenant: Tenant, tokens: int = 4, delay: float = 0.02) -> int:
    body = {
        "model": "small",
        "prompt": "a b c d",
        "max_tokens": tokens,
        "stream": True,
        "x_delay": delay,
    }
    with httpx.stream(
        "POST", f"{gateway.url}/v1/completions", json=body, headers=tenant.headers, timeout=30
    ) as r:
        r.read()
        return r.status_code


def period_spend(gateway: Gateway, tenant_id: str, period: str) -> Decimal:
    with transaction(gateway.platform.sessions) as s:
        row = s.get(InferenceCounterModel, ("tenant", tenant_id, period))
        return Decimal(0) if row is None else row.spend_usd


def test_32_concurrent_streams_never_pass_the_budget(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    # room for five reservations at once (the prompt's 7 bytes and the x_delay field's JSON)
    budget = max_cost(7 + len('{"x_delay":0.02}'), 4) * 5
    gateway.limits("tenant", alice.id, budget_usd=str(budget))
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(lambda _: stream(gateway, alice), range(32)))
    assert set(codes) <= {200, 402} and codes.count(200) >= 5
    records = gateway.records(alice.id)
    assert len(records) == codes.count(200)
    assert all(r.status == "completed" and r.amount_usd == amount(4, 4) for r in records)
    spent = sum((r.amount_usd for r in records), Decimal(0))
    assert spent <= budget
    # every reservation was settled: the counter holds exactly what the records bill
    assert period_spend(gateway, alice.id, records[0].period) == spent


def test_request_without_max_tokens_is_capped_at_the_reserved_length(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    gateway.limits("tenant", alice.id, budget_usd="1")
    body = {"model": "small", "prompt": "a b c d"}
    r = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert gateway.upstream.requests[-1]["max_tokens"] == 4096  # default_max_tokens
    bob = gateway.tenant("bob")  # no budget: the request goes upstream untouched
    assert httpx.post(f"{gateway.url}/v1/completions", json=body, headers=bob.headers).is_success
    assert "max_tokens" not in gateway.upstream.requests[-1]


def test_failed_request_releases_its_reservation(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    gateway.register("broken", upstream_model="fail-500")
    gateway.limits("tenant", alice.id, budget_usd=str(max_cost(7, 4)))
    body = {"model": "broken", "prompt": "a b c d", "max_tokens": 4}
    for _ in range(3):  # each failure gives the reservation back, so the next one fits
        r = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=alice.headers)
        assert r.status_code == 502
    records = gateway.records(alice.id)
    assert [r.status for r in records] == ["upstream_error"] * 3
    assert period_spend(gateway, alice.id, records[0].period) == 0
    ok = {"model": "small", "prompt": "a b c d", "max_tokens": 4}
    assert httpx.post(f"{gateway.url}/v1/completions", json=ok, headers=alice.headers).is_success


def test_budget_too_small_for_max_tokens_names_the_cost(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    gateway.limits("key", alice.key_id, budget_usd="0.0001")
    body = {"model": "small", "prompt": "a b c d", "max_tokens": 100_000}
    r = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=alice.headers)
    assert r.status_code == 402
    message = r.json()["error"]["message"]
    assert "may cost up to $0.40" in message and "$0.0001 left" in message
    body["max_tokens"] = 4
    assert httpx.post(f"{gateway.url}/v1/completions", json=body, headers=alice.headers).is_success
