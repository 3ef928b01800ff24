"""Two real ``gigawatt serve`` processes sharing one PostgreSQL database: rate limits and
budgets hold across both, because both enforce the counters that metering writes."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from gateway_support import amount, max_cost
from inference_support import PY, FakeUpstream, ServerThread, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]
ADMIN = "two-servers-admin"


def start_server(db_url: str, workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [
        PY,
        "-c",
        "from gigawatt.cli.main import app; app()",
        "serve",
        "--port",
        str(port),
        "--db",
        db_url,
        "--backend",
        "fake",
        "--state-dir",
        str(workdir / name),
    ]
    env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN, "HOME": str(workdir)}
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (workdir / f"{name}.log").read_text()[-3000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{name} did not start")


@pytest.fixture
def servers(postgres_schema_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Two servers on one database, and the fake upstream's URL."""
    procs: list[subprocess.Popen[bytes]] = []
    upstream = FakeUpstream()
    with ServerThread(upstream.app) as up:
        try:
            a, url_a = start_server(postgres_schema_url, tmp_path, "a")
            procs.append(a)
            b, url_b = start_server(postgres_schema_url, tmp_path, "b")
            procs.append(b)
            yield url_a, url_b, up.url
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(20)
    for name in ("a", "b"):
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text()


def test_limits_hold_across_two_server_processes(servers: tuple[str, str, str]) -> None:
    url_a, url_b, upstream = servers
    admin = httpx.Client(base_url=url_a, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    tenant = admin.post("/v1/tenants", json={"name": "acme", "kind": "external"}).json()["id"]
    key = admin.post(f"/v1/tenants/{tenant}/keys").json()
    model = {
        "id": "small",
        "upstream_url": f"{upstream}/v1",
        "price_per_million_input_tokens": "1.50",
        "price_per_million_output_tokens": "4.00",
    }
    assert admin.post("/v1/models", json=model).status_code == 201
    limit = {"scope": "key", "id": key["id"], "requests_per_minute": 5}
    assert admin.put("/v1/limits", json=limit).status_code == 200
    headers = {"Authorization": f"Bearer {key['key']}"}
    body = {"model": "small", "prompt": "a b c d", "max_tokens": 4}

    def ask(i: int) -> int:
        url = url_a if i % 2 else url_b
        return httpx.post(
            f"{url}/v1/completions", json=body, headers=headers, timeout=30
        ).status_code

    if time.time() % 60 > 50:  # keep the burst inside one rate-limit minute
        time.sleep(61 - time.time() % 60)
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(ask, range(12)))
    assert sorted(codes) == [200] * 5 + [429] * 7

    # A tenant budget worth five spent requests, two more and one reservation of a request's
    # maximum cost (prompt bytes + 16, max_tokens): three more pass, through either server,
    # then every request is refused.
    admin.put("/v1/limits", json={"scope": "key", "id": key["id"]})
    budget = amount(4, 4) * 7 + max_cost(7, 4)
    assert (
        admin.put(
            "/v1/limits", json={"scope": "tenant", "id": tenant, "budget_usd": str(budget)}
        ).status_code
        == 200
    )
    time.sleep(1.2)  # let both processes' limit caches expire
    codes = [ask(i) for i in range(5)]
    assert codes == [200, 200, 200, 402, 402]
    usage = httpx.get(f"{url_b}/v1/usage", headers=headers).json()
    assert len(usage) == 8 and {u["kind"] for u in usage} == {"inference"}
    assert sum(u["amount_usd"] for u in usage) == pytest.approx(float(amount(4, 4) * 8))


def test_budget_never_overshoots_under_concurrency_across_two_servers(
    servers: tuple[str, str, str],
) -> None:
    """32 concurrent streams, half through each server, against one tenant budget that fits
    five reservations: what is billed never passes the budget, and every reservation is
    settled (the spend shown equals the sum of the usage records)."""
    url_a, url_b, upstream = servers
    admin = httpx.Client(base_url=url_a, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    tenant = admin.post("/v1/tenants", json={"name": "burst", "kind": "external"}).json()["id"]
    key = admin.post(f"/v1/tenants/{tenant}/keys").json()
    model = {
        "id": "small",
        "upstream_url": f"{upstream}/v1",
        "price_per_million_input_tokens": "1.50",
        "price_per_million_output_tokens": "4.00",
    }
    assert admin.post("/v1/models", json=model).status_code == 201
    body = {"model": "small", "prompt": "a b c d", "max_tokens": 4, "stream": True}
    body["x_delay"] = 0.05
    budget = max_cost(7 + len('{"x_delay":0.05}'), 4) * 5
    limit = {"scope": "tenant", "id": tenant, "budget_usd": str(budget)}
    assert admin.put("/v1/limits", json=limit).status_code == 200
    time.sleep(1.2)  # both processes' limit caches expire
    headers = {"Authorization": f"Bearer {key['key']}"}

    def ask(i: int) -> int:
        url = url_a if i % 2 else url_b
        with httpx.stream(
            "POST", f"{url}/v1/completions", json=body, headers=headers, timeout=30
        ) as r:
            r.read()
            return r.status_code

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(ask, range(32)))
    assert set(codes) <= {200, 402} and codes.count(200) >= 5
    usage = httpx.get(f"{url_b}/v1/usage", headers=headers).json()
    assert len(usage) == codes.count(200)
    billed = sum(Decimal(str(u["amount_usd"])) for u in usage)
    assert billed <= budget
    shown = admin.get("/v1/limits").json()["data"]
    spent = [d["spent_this_period_usd"] for d in shown if d["id"] == tenant]
    assert spent and Decimal(spent[0]) == billed
