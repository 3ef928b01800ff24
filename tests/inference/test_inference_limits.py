"""Budgets (402) and rate limits (429 + Retry-After), per tenant and per key, enforced against
the counters metering writes; and the accounting hooks' exactly-once writes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from gateway_support import Gateway, Tenant, amount, max_cost, running_gateway
from sqlalchemy import func, select

from gigawatt.billing.prices import ModelPrice
from gigawatt.inference.token_accounting import RequestOutcome, record
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import InferenceCounterModel, TokenUsageModel
from gigawatt.store.models import LedgerTransactionModel


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    with running_gateway(db_url) as gw:
        gw.register("small")
        yield gw


def ask(gateway: Gateway, tenant: Tenant, tokens: int = 4) -> httpx.Response:
    body = {"model": "small", "prompt": "a b c d", "max_tokens": tokens}
    return httpx.post(f"{gateway.url}/v1/completions", json=body, headers=tenant.headers)


def test_tenant_budget_is_hard_402(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    # Each request reserves its maximum cost ("a b c d": 7 bytes, 4 tokens) and settles to
    # its real cost: the budget fits two real costs plus one reservation, so two pass.
    reserve = max_cost(7, 4)
    assert reserve > amount(4, 4)
    gateway.limits("tenant", alice.id, budget_usd=str(amount(4, 4) + reserve))
    assert ask(gateway, alice).status_code == 200
    assert ask(gateway, alice).status_code == 200
    refused = ask(gateway, alice)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert "budget" in error["message"] and alice.id in error["message"]
    assert "lower max_tokens" in error["message"]
    shown = httpx.get(f"{gateway.url}/v1/limits", headers=alice.headers).json()["data"]
    assert shown[0]["spent_this_period_usd"] == str(amount(4, 4) * 2)  # settled exactly
    with pytest.raises(openai.APIStatusError) as info:
        alice.openai(gateway).completions.create(model="small", prompt="x")
    assert info.value.status_code == 402
    assert len(gateway.records(alice.id)) == 2  # refused requests are not metered
    bob = gateway.tenant("bob")
    assert ask(gateway, bob).status_code == 200  # another tenant is unaffected


def test_key_budget_leaves_other_keys_of_the_tenant_alone(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    other = gateway.admin.post(f"/v1/tenants/{alice.id}/keys").json()
    second = Tenant(alice.id, other["key"], other["id"])
    gateway.limits("key", alice.key_id, budget_usd="0")
    assert ask(gateway, alice).status_code == 402
    assert ask(gateway, second).status_code == 200
    shown = httpx.get(f"{gateway.url}/v1/limits", headers=alice.headers).json()["data"]
    assert [(d["scope"], d["id"], d["budget_usd"]) for d in shown] == [
        ("key", alice.key_id, "0.00")
    ]


def test_requests_per_minute_is_429_with_retry_after(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    gateway.limits("key", alice.key_id, requests_per_minute=2)
    assert [ask(gateway, alice).status_code for _ in range(2)] == [200, 200]
    refused = ask(gateway, alice)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    stream = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers=alice.headers,
        json={"model": "small", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert stream.status_code == 429


def test_tokens_per_minute_counts_metered_tokens(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    gateway.limits("tenant", alice.id, tokens_per_minute=10)
    assert ask(gateway, alice, tokens=4).status_code == 200  # 4 + 4 = 8 tokens
    assert ask(gateway, alice, tokens=4).status_code == 200  # 16 ≥ 10 after this one
    refused = ask(gateway, alice)
    assert refused.status_code == 429 and "tokens" in refused.json()["error"]["message"]
    assert "retry-after" in refused.headers


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "tenant", "id": "ten_nope", "budget_usd": "1"},
        {"scope": "galaxy", "id": "x"},
        {"scope": "tenant", "id": "x", "budget_usd": "-1"},
        {"scope": "tenant", "id": "x", "budget_usd": "0.0000001"},
        {"scope": "tenant", "id": "x", "requests_per_minute": -1},
        {"scope": "tenant", "id": "x", "surprise": 1},
    ],
)
def test_bad_limits_are_4xx(gateway: Gateway, body: dict[str, Any]) -> None:
    r = gateway.admin.put("/v1/limits", json=body)
    assert r.status_code in (400, 404), r.text
    assert r.json()["error"]["message"]


def test_recording_twice_writes_once(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")

    class Caller:
        is_admin = False
        tenant_id = alice.id
        tenant_kind = "external"
        key_id = alice.key_id

    price = ModelPrice("small", Decimal("1.50"), Decimal("4.00"))
    outcome = RequestOutcome("completed", 10, 20)
    for _ in range(3):
        with transaction(gateway.platform.sessions) as s:
            record(s, "req-1", Caller(), price, outcome, 1_794_268_800.0)
    with transaction(gateway.platform.sessions) as s:
        assert s.scalar(select(func.count()).select_from(TokenUsageModel)) == 1
        assert s.scalar(select(func.count()).select_from(LedgerTransactionModel)) == 1
        spend = s.get(InferenceCounterModel, ("tenant", alice.id, "2026-11"))
        assert spend is not None and spend.spend_usd == amount(10, 20) and spend.tokens == 30
