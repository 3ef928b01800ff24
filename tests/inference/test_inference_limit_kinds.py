"""Budget periods (day, week, month), soft budgets with alert events, and concurrent-request
limits (SQLite and PostgreSQL)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from gateway_support import Gateway, Tenant, amount, max_cost, running_gateway

from gigawatt.inference.limits import budget_window
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import InferenceCounterModel

pytestmark = pytest.mark.inference


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    with running_gateway(db_url) as gw:
        gw.register("small")
        yield gw


def ask(gateway: Gateway, tenant: Tenant, **extra: object) -> httpx.Response:
    body = {"model": "small", "prompt": "a b c d", "max_tokens": 4, **extra}
    return httpx.post(
        f"{gateway.url}/v1/completions", json=body, headers=tenant.headers, timeout=30
    )


def test_budget_windows() -> None:
    at = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC).timestamp()
    assert budget_window(at, "month") == "2026-12"
    assert budget_window(at, "day") == "d2026-12-31"
    assert budget_window(at, "week") == "w2026-53"  # ISO week of 2026-12-31


def test_daily_budget_counts_and_refuses_in_its_day(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    budget = amount(4, 4) + max_cost(7, 4)  # two requests fit, as for a monthly budget
    gateway.limits("key", alice.key_id, budget_usd=str(budget), budget_period="day")
    assert [ask(gateway, alice).status_code for _ in range(3)] == [200, 200, 402]
    [view] = httpx.get(f"{gateway.url}/v1/limits", headers=alice.headers).json()["data"]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert view["budget_period"] == "day" and view["budget_window"] == f"d{today}"
    assert Decimal(view["spent_this_period_usd"]) == amount(4, 4) * 2
    refused = ask(gateway, alice).json()["error"]["message"]
    assert f"d{today}" in refused
    with transaction(gateway.platform.sessions) as s:  # the month counts it as well
        month = s.get(InferenceCounterModel, ("key", alice.key_id, today[:7]))
        day = s.get(InferenceCounterModel, ("key", alice.key_id, f"d{today}"))
        assert month is not None and month.spend_usd == amount(4, 4) * 2
        assert day is not None and day.spend_usd == amount(4, 4) * 2


def test_soft_budget_records_one_alert_and_refuses_nothing(gateway: Gateway) -> None:
    alice, bob = gateway.tenant("alice"), gateway.tenant("bob")
    gateway.limits("tenant", alice.id, soft_budget_usd=str(amount(4, 4) * 2))
    assert [ask(gateway, alice).status_code for _ in range(4)] == [200] * 4
    alerts = httpx.get(f"{gateway.url}/v1/inference/alerts", headers=alice.headers).json()
    [alert] = alerts["data"]
    assert (alert["scope"], alert["id"], alert["kind"]) == ("tenant", alice.id, "soft_budget")
    assert alert["window"] == dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert "soft budget" in alert["message"]
    assert httpx.get(f"{gateway.url}/v1/inference/alerts", headers=bob.headers).json() == {
        "data": []
    }
    assert len(gateway.admin.get("/v1/inference/alerts").json()["data"]) == 1


def test_concurrent_requests_are_limited_per_key(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    gateway.limits("key", alice.key_id, max_concurrent=2)

    def stream(_: int) -> int:
        with httpx.stream(
            "POST",
            f"{gateway.url}/v1/completions",
            json={
                "model": "small",
                "prompt": "a",
                "max_tokens": 10,
                "stream": True,
                "x_delay": 0.1,
            },
            headers=alice.headers,
            timeout=30,
        ) as r:
            r.read()
            return r.status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(stream, range(6)))
    assert 2 <= codes.count(200) < 6 and set(codes) == {200, 429}
    assert len(gateway.records(alice.id)) == codes.count(200)
    # the slots came back when the streams ended
    assert [ask(gateway, alice).status_code for _ in range(3)] == [200] * 3
    with (
        httpx.stream(
            "POST",
            f"{gateway.url}/v1/completions",
            json={
                "model": "small",
                "prompt": "a",
                "max_tokens": 30,
                "stream": True,
                "x_delay": 0.1,
            },
            headers=alice.headers,
            timeout=30,
        ) as first,
        httpx.stream(
            "POST",
            f"{gateway.url}/v1/completions",
            json={
                "model": "small",
                "prompt": "a",
                "max_tokens": 30,
                "stream": True,
                "x_delay": 0.1,
            },
            headers=alice.headers,
            timeout=30,
        ) as second,
    ):
        third = ask(gateway, alice)
        assert third.status_code == 429 and "concurrent" in third.json()["error"]["message"]
        assert first.status_code == second.status_code == 200


@pytest.mark.parametrize(
    "fields",
    [
        {"budget_period": "year"},
        {"max_concurrent": 0},
        {"soft_budget_usd": "-1"},
    ],
)
def test_bad_limit_kinds_are_400(gateway: Gateway, fields: dict[str, object]) -> None:
    alice = gateway.tenant("alice")
    r = gateway.admin.put("/v1/limits", json={"scope": "tenant", "id": alice.id, **fields})
    assert r.status_code == 400, r.text
