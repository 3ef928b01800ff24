"""Spend reports: usage summed by tenant, key, model and day, over HTTP and ``gigawatt spend``
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from gateway_support import ADMIN_KEY, Gateway, Tenant, amount, running_gateway
from inference_support import PY

pytestmark = pytest.mark.inference


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    with running_gateway(db_url) as gw:
        gw.register("small")
        gw.register("other")
        yield gw


def ask(gateway: Gateway, tenant: Tenant, model: str, tokens: int) -> None:
    body = {"model": model, "prompt": "a b c d", "max_tokens": tokens}
    r = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text


def test_spend_by_tenant_model_and_day(gateway: Gateway) -> None:
    alice, bob = gateway.tenant("alice"), gateway.tenant("bob")
    ask(gateway, alice, "small", 4)
    ask(gateway, alice, "small", 2)
    ask(gateway, alice, "other", 4)
    ask(gateway, bob, "small", 4)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    mine = httpx.get(f"{gateway.url}/v1/inference/spend", headers=alice.headers).json()
    assert mine["group_by"] == ["tenant", "model", "day"]
    rows = {(r["model"], r["day"]): r for r in mine["data"]}
    assert set(rows) == {("small", today), ("other", today)}  # a tenant sees its own only
    small = rows[("small", today)]
    assert small["requests"] == 2 and small["completion_tokens"] == 6
    assert Decimal(small["amount_usd"]) == amount(4, 4) + amount(4, 2)
    assert Decimal(mine["total_usd"]) == amount(4, 4) * 2 + amount(4, 2)
    everyone = gateway.admin.get("/v1/inference/spend", params={"group_by": "tenant"}).json()
    assert {r["tenant_id"]: r["requests"] for r in everyone["data"]} == {alice.id: 3, bob.id: 1}
    by_key = gateway.admin.get(
        "/v1/inference/spend", params={"group_by": "key", "tenant_id": bob.id}
    ).json()
    assert [(r["key_id"], r["requests"]) for r in by_key["data"]] == [(bob.key_id, 1)]
    later = gateway.admin.get("/v1/inference/spend", params={"since": "2999-01-01"}).json()
    assert later["data"] == [] and Decimal(later["total_usd"]) == 0


@pytest.mark.parametrize(
    "params", [{"group_by": "planet"}, {"since": "yesterday"}, {"surprise": "1"}]
)
def test_bad_spend_queries_are_400(gateway: Gateway, params: dict[str, str]) -> None:
    r = gateway.admin.get("/v1/inference/spend", params=params)
    assert r.status_code == 400 and r.json()["error"]["message"]


def test_gigawatt_spend_command(gateway: Gateway) -> None:
    alice = gateway.tenant("alice")
    ask(gateway, alice, "small", 4)
    env = {**os.environ, "GIGAWATT_URL": gateway.url, "GIGAWATT_API_KEY": ADMIN_KEY}
    args = [PY, "-c", "from gigawatt.cli.main import app; app()", "spend"]
    done = subprocess.run(
        [*args, "--group-by", "tenant,model", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(r["tenant_id"], r["model"], r["requests"]) for r in report["data"]] == [
        (alice.id, "small", 1)
    ]
    table = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert table.returncode == 0 and "small" in table.stdout and "total" in table.stdout
    bad = subprocess.run(
        [*args, "--group-by", "planet"], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2 and "group_by" in bad.stderr and "Traceback" not in bad.stderr
