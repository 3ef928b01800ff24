"""`gigawatt serve --backend ray` schedules on the nodes Ray discovers, over real HTTP.

The fleet file names none of the cluster's nodes, so every placement is on a discovered node;
a node that joins without declaring a fleet-file id is known by its Ray node id. When that
node is stopped mid-job, its spot job returns to the queue and runs again on a node that is
left, and its on-demand job fails with ``node_lost`` — each billed for exactly what it held.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray")

import yaml
from ray_e2e_support import PY, Client, Cloud, assert_billed_as_allocated, cloud_fixture
from ray_specs import node_ids

from gigawatt.backends.ray.localcluster import LocalRayCluster

pytestmark = [pytest.mark.ray, pytest.mark.e2e, pytest.mark.slow]

SLEEP = [PY, "-c", "import time; time.sleep(120)"]


@pytest.fixture(params=["ray"])
def cloud(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    """Servers on the Ray backend (the session cluster)."""
    yield from cloud_fixture(request, tmp_path, monkeypatch)


def unrelated_fleet(path: Path) -> Path:
    """A fleet file whose site and node ids match nothing in the cluster."""
    site = {
        "name": "elsewhere",
        "it_power_mw": 0.01,
        "node_groups": [{"name": "h100", "count": 1, "gpu_type": "H100", "gpus_per_node": 8}],
    }
    path.write_text(yaml.safe_dump({"sites": [site]}), encoding="utf-8")
    return path


def fleet_nodes(client: Client) -> dict[str, str]:
    """Node id -> site, from ``GET /v1/fleet``."""
    fleet = client.get("/v1/fleet")
    return {n["node_id"]: s["name"] for s in fleet["sites"] for n in s["nodes"]}


def placed_on(job: dict[str, Any]) -> str:
    node: str = job["attempts"][-1]["placement"][0]["node_id"]
    return node


def test_serve_places_on_discovered_nodes_and_survives_a_lost_node(
    cloud: Cloud, ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    ray_cluster.add_node("disc", gpus=4, site="east")  # no fleet-file id: its Ray id
    try:
        disc = node_ids()["disc"]
        server, admin = cloud(fleet=unrelated_fleet(tmp_path / "unrelated.yaml"))
        # head and w1 declare e2e/h100-000N, which this fleet file does not know: their
        # sites come from Ray (head: default "ray", w1: "west"), with no power cap
        assert fleet_nodes(admin) == {
            "e2e/h100-0000": "ray",
            "e2e/h100-0001": "west",
            disc: "east",
        }
        metrics = admin.http.get("/metrics").text
        assert 'gigawatt_gpus_total{gpu_type="H100"} 20.0' in metrics
        assert 'gigawatt_site_power_cap_kw{site="elsewhere"}' not in metrics

        _, ext, _ = admin.tenant("ext")
        # best fit puts both 2-GPU jobs on the 4-GPU node
        od = ext.submit(SLEEP, name="od", gpus=2, tier="on_demand")
        spot = ext.submit(SLEEP, name="spot", gpus=2, tier="spot")
        running = [ext.wait_status(j["id"], "running", timeout=60) for j in (od, spot)]
        assert [placed_on(j) for j in running] == [disc, disc]

        ray_cluster.stop_node("disc")

        lost = ext.wait_status(od["id"], "failed", timeout=60)
        assert lost["reason"].startswith("node_lost")
        again = ext.wait(spot["id"], lambda j: len(j["attempts"]) == 2, timeout=60)
        first = again["attempts"][0]
        assert first["status"] == "failed" and "node_lost" in first["reason"]
        again = ext.wait_status(spot["id"], "running", timeout=60)
        assert placed_on(again) in ("e2e/h100-0000", "e2e/h100-0001")
        deadline = time.monotonic() + 30
        while disc in fleet_nodes(admin):  # the node left the fleet
            assert time.monotonic() < deadline, fleet_nodes(admin)
            time.sleep(0.5)

        ext.post(f"/v1/jobs/{spot['id']}/cancel")
        done = ext.wait_status(spot["id"], "cancelled", timeout=60)
        for job in (lost, done):
            assert_billed_as_allocated(ext, job)
        usage = ext.get("/v1/usage", params={"job_id": spot["id"]})
        assert sorted(u["attempt"] for u in usage) == [1, 2]
        assert "is not in the fleet file: no power cap" in server.logs()
    finally:
        if "disc" in ray_cluster.nodes:
            ray_cluster.stop_node("disc")
