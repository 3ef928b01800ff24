"""Restart safety and node loss on a real cluster.

A control plane in another process starts attempts and exits; this process (a second
RayBackend, as a restarted control plane) adopts them by name. A node stopped mid-job makes
its attempts fail with ``node_lost`` and leaves the discovered fleet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("ray")

from ray_specs import NAMESPACE, node_ids, ray_spec, wait_for, wait_status

from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.backends.ray import RayBackend
from gigawatt.backends.ray.localcluster import LocalRayCluster

pytestmark = pytest.mark.ray
PY = sys.executable


def _start_elsewhere(
    cluster: LocalRayCluster, state_dir: Path, jobs: list[dict[str, object]]
) -> list[Handle]:
    """Start ``jobs`` from a separate control-plane process that then exits."""
    request = {
        "address": cluster.address,
        "state_dir": str(state_dir),
        "namespace": NAMESPACE,
        "jobs": jobs,
    }
    script = Path(__file__).with_name("ray_driver.py")
    out = subprocess.run(
        [PY, str(script), json.dumps(request)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    datas = json.loads(out.stdout.strip().splitlines()[-1])
    return [Handle(d["group"].split(":")[1], int(d["group"].split(":")[2]), d) for d in datas]


def test_restarted_control_plane_adopts_running_and_finished_attempts(
    ray_cluster: LocalRayCluster, ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    slow = "import time; time.sleep(3); print('slow done', flush=True)"
    fast = "print('fast done', flush=True); raise SystemExit(5)"
    running, finished = _start_elsewhere(
        ray_cluster,
        ray_backend.state_dir,
        [
            {
                "job_id": f"slow-{tag}",
                "attempt": 2,
                "command": [PY, "-c", slow],
                "placement": [[nodes["head"], 1], [nodes["w1"], 1]],
            },
            {
                "job_id": f"fast-{tag}",
                "attempt": 1,
                "command": [PY, "-c", fast],
                "placement": [[nodes["w1"], 2]],
            },
        ],
    )
    restarted = RayBackend(ray_cluster.address, ray_backend.state_dir, namespace=NAMESPACE)

    assert restarted.adopt(running)
    assert restarted.poll(running) is None
    assert wait_status(restarted, running).succeeded
    assert restarted.logs(running.job_id, 2).count("slow done") == 2

    # finished while no control plane was there: not adoptable, but its status is known
    assert not restarted.adopt(finished)
    assert restarted.poll(finished) == ExitStatus(5, reason="exit code 5")
    assert "fast done" in restarted.logs(finished.job_id, 1)


def test_adopt_of_a_foreign_or_vanished_handle_is_false(ray_backend: RayBackend) -> None:
    assert not ray_backend.adopt(Handle("x", 1, {"backend": "local", "pid": 1}))
    vanished = ray_spec([PY, "-c", "pass"], ["0" * 56])
    data = {
        "backend": "ray",
        "dir": str(ray_backend.state_dir / "jobs" / vanished.job_id / "attempt-1"),
        "namespace": NAMESPACE,
        "group": f"gw:{vanished.job_id}:1",
        "actors": [f"gw:{vanished.job_id}:1:0"],
        "nodes": ["0" * 56],
    }
    handle = Handle(vanished.job_id, 1, data)
    assert not ray_backend.adopt(handle)
    status = ray_backend.poll(handle)  # its node is unknown to the cluster: lost with it
    assert status == ExitStatus(-1, reason="node_lost")


def test_node_lost_mid_job(
    ray_cluster: LocalRayCluster, ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    ray_cluster.add_node("victim", site="east")
    victim = node_ids()["victim"]
    wait_for(
        lambda: victim in {n.node_id for n in ray_backend.discover_nodes() or []},
        what="victim discovered",
    )
    code = "import time; print('up', flush=True); time.sleep(120)"
    alone = ray_backend.start(ray_spec([PY, "-c", code], [victim], gpus_per_node=4))
    gang_spec = ray_spec([PY, "-c", code], [nodes["w1"], victim])
    gang = ray_backend.start(gang_spec)
    survivor = int(gang.data["pids"][0])  # type: ignore[index]
    wait_for(lambda: ray_backend.logs(gang_spec.job_id, 1).count("up") == 2, what="gang up")

    ray_cluster.stop_node("victim")

    assert wait_status(ray_backend, alone, timeout_s=60) == ExitStatus(-1, reason="node_lost")
    assert wait_status(ray_backend, gang, timeout_s=60) == ExitStatus(-1, reason="node_lost")
    assert victim not in {n.node_id for n in ray_backend.discover_nodes() or []}
    wait_for(lambda: not Path(f"/proc/{survivor}").exists(), what="rank on w1 stopped")
    assert "up" in ray_backend.logs(gang_spec.job_id, 1)
