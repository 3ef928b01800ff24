"""The cloud end to end over real HTTP, on the local and on the Ray backend alike.

The same scenario (a single-node job, a two-node gang, a spot job preempted by internal work
and requeued, a cancel) gives the same usage records and invoice lines on both backends; a
control-plane kill -9 and restart adopts the running job on both; a Ray node stopped mid-job
fails its job with ``node_lost``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray")

from ray_e2e_support import (
    PY,
    Client,
    Cloud,
    Server,
    assert_billed_as_allocated,
    cloud_fixture,
    money,
)

from gigawatt.backends.ray.localcluster import LocalRayCluster

pytestmark = [pytest.mark.ray, pytest.mark.e2e, pytest.mark.slow]

SLEEP = [PY, "-c", "import time; time.sleep(60)"]
GANG = "import os; print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])"
#: (job name, attempt, tier, gpu type, gpus) of every usage record of the scenario.
EXPECTED_USAGE = [
    ("gang", 1, "on_demand", "H100", 16),
    ("internal", 1, "internal", "H100", 8),
    ("single", 1, "on_demand", "H100", 4),
    ("spot", 1, "spot", "H100", 16),
    ("spot", 2, "spot", "H100", 16),
]
#: (tenant, gpu type, tier) of every invoice line.
EXPECTED_LINES = [
    ("ext", "H100", "on_demand"),
    ("ext", "H100", "spot"),
    ("own", "H100", "internal"),
]


@pytest.fixture(params=["local", "ray"])
def cloud(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    """Servers on the local backend, then on the Ray backend."""
    yield from cloud_fixture(request, tmp_path, monkeypatch)


def test_same_scenario_same_usage_and_invoice_lines(cloud: Cloud) -> None:
    _, admin = cloud()
    tenants = {}
    ext_id, ext, _ = admin.tenant("ext")
    own_id, own, _ = admin.tenant("own", "internal")
    tenants[ext_id], tenants[own_id] = "ext", "own"
    names: dict[str, str] = {}

    single = ext.submit([PY, "-c", "print('single')"], name="single", gpus=4, tier="on_demand")
    names[single["id"]] = "single"
    assert ext.wait_status(single["id"], "succeeded", "failed", timeout=60)["status"] == "succeeded"
    assert ext.get(f"/v1/jobs/{single['id']}/logs")["logs"] == "single\n"

    gang = ext.submit([PY, "-c", GANG], name="gang", gpus=16, tier="on_demand")
    names[gang["id"]] = "gang"
    done = ext.wait_status(gang["id"], "succeeded", "failed", timeout=60)
    assert done["status"] == "succeeded", done
    assert len({p["node_id"] for p in done["attempts"][0]["placement"]}) == 2
    logs = ext.get(f"/v1/jobs/{gang['id']}/logs")["logs"]
    assert "rank 0 of 2" in logs and "rank 1 of 2" in logs

    spot = ext.submit(SLEEP, name="spot", gpus=16, tier="spot")
    names[spot["id"]] = "spot"
    ext.wait_status(spot["id"], "running", timeout=60)
    internal = own.submit([PY, "-c", "pass"], name="internal", gpus=8, tier="internal")
    names[internal["id"]] = "internal"
    ext.wait(spot["id"], lambda j: j["attempts"][0]["status"] == "preempted", timeout=60)
    assert own.wait_status(internal["id"], "succeeded", timeout=60)["status"] == "succeeded"
    ext.wait(spot["id"], lambda j: j["status"] == "running" and len(j["attempts"]) == 2, 60)
    ext.post(f"/v1/jobs/{spot['id']}/cancel")
    cancelled = ext.wait_status(spot["id"], "cancelled", timeout=60)
    assert [a["status"] for a in cancelled["attempts"]] == ["preempted", "cancelled"]
    for client, job in ((ext, single), (ext, gang), (ext, cancelled), (own, internal)):
        assert_billed_as_allocated(client, client.job(job["id"]))

    usage = admin.get("/v1/usage")
    shape = sorted(
        (names[u["job_id"]], u["attempt"], u["tier"], u["gpu_type"], u["gpus"]) for u in usage
    )
    assert shape == EXPECTED_USAGE
    admin.post("/v1/invoices/close", {})
    lines = []
    for client, tenant in ((ext, "ext"), (own, "own")):
        for invoice in client.get("/v1/invoices"):
            for line in invoice["lines"]:
                lines.append((tenant, line["gpu_type"], line["tier"]))
                billed = sum(
                    money(u["amount_usd"])
                    for u in usage
                    if tenants[u["tenant_id"]] == tenant
                    and (u["gpu_type"], u["tier"]) == (line["gpu_type"], line["tier"])
                )
                assert abs(money(line["amount_usd"]) - billed) <= money("0.01")
    assert sorted(lines) == EXPECTED_LINES


def test_restart_adopts_the_running_job(cloud: Cloud) -> None:
    server, ext, job = _begun_then_killed(cloud, sleep_s=6)
    server.start()

    done = ext.wait_status(job["id"], "succeeded", "failed", timeout=60)
    assert done["status"] == "succeeded", done
    assert len(done["attempts"]) == 1
    assert _logs(ext, job["id"]) == "begin\nend\n"
    assert_billed_as_allocated(ext, done)
    assert len(ext.get("/v1/usage")) == 1


def test_job_that_ends_while_the_server_is_down_is_billed_to_its_real_end(cloud: Cloud) -> None:
    """Its supervisor (the local runner, the Ray rank actor) recorded when it exited: the
    restarted server bills up to then, not to the last heartbeat before the kill."""
    server, ext, job = _begun_then_killed(cloud, sleep_s=3)
    time.sleep(8)  # the job ends while nothing watches it
    server.start()

    done = ext.wait_status(job["id"], "succeeded", "failed", timeout=60)
    assert done["status"] == "succeeded", done
    (attempt,) = done["attempts"]
    assert attempt["ended_at"] - attempt["started_at"] >= 3, attempt
    assert attempt["ended_at"] - attempt["started_at"] < 3 + 5, attempt  # not the downtime
    assert_billed_as_allocated(ext, done)
    (usage,) = ext.get("/v1/usage", params={"job_id": job["id"]})
    assert usage["gpu_seconds"] >= 8 * 3, usage


@pytest.mark.parametrize("cloud", ["ray"], indirect=True)
def test_ray_node_stopped_mid_job(cloud: Cloud, ray_cluster: LocalRayCluster) -> None:
    ray_cluster.add_node("e2e-victim", fleet_node="e2e/h100-0002")
    _, admin = cloud(nodes=3)
    _, ext, _ = admin.tenant("ext")
    jobs = [ext.submit(SLEEP, name=f"j{i}", gpus=8, tier="on_demand") for i in range(3)]
    running = [ext.wait_status(j["id"], "running", timeout=60) for j in jobs]
    (doomed,) = [
        j for j in running if j["attempts"][0]["placement"][0]["node_id"] == "e2e/h100-0002"
    ]

    ray_cluster.stop_node("e2e-victim")

    lost = ext.wait_status(doomed["id"], "failed", timeout=60)
    assert "node_lost" in lost["attempts"][0]["reason"]
    assert_billed_as_allocated(ext, lost)
    for job in running:
        if job["id"] != doomed["id"]:
            assert ext.job(job["id"])["status"] == "running"
            ext.post(f"/v1/jobs/{job['id']}/cancel")
            assert_billed_as_allocated(ext, ext.wait_status(job["id"], "cancelled", timeout=30))


def _begun_then_killed(cloud: Cloud, sleep_s: float) -> tuple[Server, Client, dict[str, Any]]:
    """A server running an 8-GPU job that prints ``begin``, sleeps ``sleep_s`` and prints
    ``end``, killed with SIGKILL once the job has begun: the server, the tenant, the job."""
    server, admin = cloud()
    _, ext, _ = admin.tenant("ext")
    code = f"import time; print('begin', flush=True); time.sleep({sleep_s}); print('end')"
    job = ext.submit([PY, "-c", code], name="sleeper", gpus=8, tier="on_demand")
    ext.wait(job["id"], lambda j: "begin" in _logs(ext, j["id"]), timeout=60)
    server.stop(signal.SIGKILL)
    return server, ext, job


def _logs(client: Client, job_id: str) -> str:
    return str(client.get(f"/v1/jobs/{job_id}/logs")["logs"])
