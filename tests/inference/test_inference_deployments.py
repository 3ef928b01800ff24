"""Deployments end to end: a real ``gigawatt serve`` with the local backend runs replicas of a
tiny local model as service jobs; the gateway balances across ready replicas, stops routing to
a dead one, and the deployment replaces it; the replicas' GPU time is metered."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from inference_support import PY, free_port

pytestmark = [pytest.mark.inference, pytest.mark.e2e, pytest.mark.slow]
ADMIN = "deploy-admin"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def stop_jobs(url: str) -> None:
    """Cancel every job still alive (so a failed test leaves no worker behind)."""
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    ended = ("succeeded", "failed", "cancelled")
    try:
        for job in admin.get("/v1/jobs").json():
            if job["status"] not in ended:
                admin.post(f"/v1/jobs/{job['id']}/cancel")
        wait_for(
            "jobs to end",
            lambda: all(j["status"] in ended for j in admin.get("/v1/jobs").json()),
            20,
        )
    except (httpx.HTTPError, AssertionError):
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    fleet = {
        "sites": [
            {
                "name": "lab",
                "it_power_mw": 1.0,
                "pue": 1.2,
                "node_groups": [
                    {"name": "h100", "count": 1, "gpu_type": "H100", "gpus_per_node": 8}
                ],
            }
        ]
    }
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    port = free_port()
    args = [
        PY,
        "-c",
        "from gigawatt.cli.main import app; app()",
        "serve",
        "--port",
        str(port),
        "--db",
        f"sqlite:///{tmp_path / 'gw.db'}",
        "--state-dir",
        str(tmp_path / "state"),
        "--fleet",
        str(tmp_path / "fleet.yaml"),
        "--grace-s",
        "2",
        "--tick-s",
        "0.2",
    ]
    env = {**os.environ, "GIGAWATT_ADMIN_KEY": ADMIN, "HOME": str(tmp_path)}
    log = tmp_path / "server.log"
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("the server", up, 60)
    try:
        yield url
    finally:
        stop_jobs(url)  # replica jobs outlive the server by design (adopted at restart)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


def test_deployment_serves_balances_and_survives_a_dead_replica(
    server: str, tiny_model: Path
) -> None:
    admin = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    team = admin.post("/v1/tenants", json={"name": "ml-platform", "kind": "internal"}).json()
    acme = admin.post("/v1/tenants", json={"name": "acme", "kind": "external"}).json()
    key = admin.post(f"/v1/tenants/{acme['id']}/keys").json()["key"]
    model = {
        "id": "tiny",
        "model_path": str(tiny_model),
        "price_per_million_input_tokens": "2",
        "price_per_million_output_tokens": "6",
    }
    assert admin.post("/v1/models", json=model).status_code == 201
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:  # no replica yet
        client.completions.create(model="tiny", prompt="hello", max_tokens=2)
    assert info.value.status_code == 503

    body = {
        "model": "tiny",
        "gpus": 1,
        "gpu_type": "H100",
        "replicas": 2,
        "tier": "internal",
        "tenant_id": team["id"],
    }
    created = admin.post("/v1/deployments", json=body)
    assert created.status_code == 201, created.text
    dep = created.json()["id"]

    def ready(n: int) -> Callable[[], list[dict[str, Any]]]:
        def check() -> list[dict[str, Any]]:
            view = admin.get(f"/v1/deployments/{dep}").json()
            assert view["status"] == "active", view
            up = [r for r in view["replica_states"] if r["status"] == "ready"]
            return up if len(up) >= n else []

        return check

    replicas = wait_for("two ready replicas", ready(2))
    jobs = admin.get("/v1/jobs").json()
    assert {j["status"] for j in jobs} == {"running"} and len(jobs) == 2
    assert all(j["tier"] == "internal" and j["gpus"] == 1 for j in jobs)
    listed = client.models.list().data
    assert (listed[0].model_extra or {})["ready_replicas"] == 2

    for i in range(6):
        reply = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": f"hello {i}"}], max_tokens=3
        )
        assert reply.usage is not None and reply.usage.completion_tokens == 3
    with pytest.raises(openai.BadRequestError) as too_long:  # the replica's own 400, relayed
        client.completions.create(model="tiny", prompt="hello " * 80, max_tokens=4)
    assert too_long.value.code == "context_length_exceeded"
    healths = [httpx.get(f"{r['url']}/health").json() for r in replicas]
    assert all(h["batches"] >= 1 for h in healths), healths  # both replicas took traffic

    os.kill(healths[0]["pid"], signal.SIGKILL)
    for _ in range(4):
        chunks = list(
            client.completions.create(
                model="tiny",
                prompt="the cat",
                max_tokens=2,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2
    usage = httpx.get(f"{server}/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()
    assert len(usage) == 12 and [u["status"] for u in usage].count("completed") == 10
    assert [u["status"] for u in usage].count("upstream_error") == 2  # no replica; too long

    def replaced() -> bool:
        view = admin.get(f"/v1/deployments/{dep}").json()
        states = [r["status"] for r in view["replica_states"]]
        return states.count("stopped") == 1 and states.count("ready") == 2

    wait_for("a replacement replica", replaced)
    assert admin.delete(f"/v1/deployments/{dep}").json()["status"] == "deleted"
    wait_for(
        "replica jobs to stop",
        lambda: all(j["status"] in ("cancelled", "failed") for j in admin.get("/v1/jobs").json()),
    )
    gpu = admin.get("/v1/usage", params={"tenant_id": team["id"], "kind": "gpu"}).json()
    assert gpu and all(u["tier"] == "internal" and u["gpu_seconds"] > 0 for u in gpu)
