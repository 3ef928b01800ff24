"""RayBackend on a real local cluster: jobs, gangs, logs, exit codes, terminate and kill."""

from __future__ import annotations

import json
import sys

import pytest

ray = pytest.importorskip("ray")

from ray.util.placement_group import get_placement_group, placement_group_table  # noqa: E402
from ray_specs import ray_spec, wait_for, wait_status  # noqa: E402

from gigawatt.backends.base import ExitStatus  # noqa: E402
from gigawatt.backends.ray import RayBackend, RayBackendError  # noqa: E402
from gigawatt.backends.ray.discovery import addresses, cluster_nodes  # noqa: E402
from gigawatt.backends.ray.placement import actor_name, group_name  # noqa: E402

pytestmark = pytest.mark.ray

PY = sys.executable
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "GIGAWATT_NODE")
PRINT_ENV = (
    "import json, os, sys, time; "
    f"print(json.dumps({{k: os.environ.get(k) for k in {[*ENV_KEYS, 'CUDA_VISIBLE_DEVICES', 'FOO']}}}), flush=True); "  # noqa: E501
    "time.sleep(float(sys.argv[1]))"
)


def group_gone(name: str) -> bool:
    """True when no live placement group of that name is left in this namespace."""
    try:
        group = get_placement_group(name)
    except ValueError:
        return True
    return bool(placement_group_table(group).get("state") == "REMOVED")


def actors_gone(job_id: str, attempt: int, world: int) -> bool:
    names = set(ray.util.list_named_actors())
    return not any(actor_name(job_id, attempt, r) in names for r in range(world))


def test_single_node_job_logs_and_exit_code(ray_backend: RayBackend, nodes: dict[str, str]) -> None:
    code = "import os; print('hello from', os.environ['RANK']); raise SystemExit(3)"
    spec = ray_spec([PY, "-c", code], [nodes["head"]], gpus_per_node=2)
    handle = ray_backend.start(spec)
    assert handle.data["nodes"] == [nodes["head"]]
    assert len(handle.data["gpu_ids"][0]) == 2  # type: ignore[index]

    status = wait_status(ray_backend, handle)

    assert status == ExitStatus(3, reason="exit code 3")
    assert "hello from 0" in ray_backend.logs(spec.job_id, 1)
    assert ray_backend.poll(handle) == status  # final status kept
    wait_for(lambda: group_gone(group_name(spec.job_id, 1)), what="placement group removed")
    assert actors_gone(spec.job_id, 1, 1)


def test_successful_job_with_user_env(ray_backend: RayBackend, nodes: dict[str, str]) -> None:
    spec = ray_spec([PY, "-c", PRINT_ENV, "0"], [nodes["w1"]], env={"FOO": "bar"})
    handle = ray_backend.start(spec)

    status = wait_status(ray_backend, handle)

    assert status.succeeded
    env = json.loads(ray_backend.logs(spec.job_id, 1).strip())
    assert env["FOO"] == "bar"
    assert env["RANK"] == "0" and env["WORLD_SIZE"] == "1"
    assert env["GIGAWATT_NODE"] == nodes["w1"]
    assert env["CUDA_VISIBLE_DEVICES"] is not None and len(env["CUDA_VISIBLE_DEVICES"]) == 1


def test_two_node_gang_ranks_see_their_environment(
    ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    placed = [nodes["head"], nodes["w1"]]
    spec = ray_spec([PY, "-c", PRINT_ENV, "1.5"], placed, gpus_per_node=4)
    handle = ray_backend.start(spec)
    table = placement_group_table(get_placement_group(group_name(spec.job_id, 1)))

    status = wait_status(ray_backend, handle)

    assert table["strategy"] == "STRICT_SPREAD"
    assert [table["bundles_to_node_id"][i] for i in range(2)] == placed
    assert status.succeeded
    logs = ray_backend.logs(spec.job_id, 1)
    parts = logs.split("==> rank 1 <==")
    assert parts[0].startswith("==> rank 0 <==")
    envs = [json.loads(p.split("<==", 1)[-1].strip()) for p in parts]
    assert [e["RANK"] for e in envs] == ["0", "1"]
    assert {e["WORLD_SIZE"] for e in envs} == {"2"}
    assert {e["LOCAL_RANK"] for e in envs} == {"0"}
    head_ip = addresses(cluster_nodes())[nodes["head"]]
    assert {e["MASTER_ADDR"] for e in envs} == {head_ip}  # rank 0's node address
    assert len({e["MASTER_PORT"] for e in envs}) == 1
    assert [e["GIGAWATT_NODE"] for e in envs] == placed
    assert all(len(e["CUDA_VISIBLE_DEVICES"].split(",")) == 4 for e in envs)


def test_single_node_job_is_strict_pack(ray_backend: RayBackend, nodes: dict[str, str]) -> None:
    spec = ray_spec([PY, "-c", "import time; time.sleep(30)"], [nodes["w1"]], gpus_per_node=8)
    handle = ray_backend.start(spec)
    try:
        table = placement_group_table(get_placement_group(group_name(spec.job_id, 1)))
        assert table["strategy"] == "STRICT_PACK"
        assert table["bundles"][0] == {"GPU": 8.0, "gpu_type:H100": 8.0}
        assert table["bundles_to_node_id"][0] == nodes["w1"]
        assert ray_backend.poll(handle) is None
        assert ray_backend.adopt(handle)
    finally:
        ray_backend.kill(handle)
    assert wait_status(ray_backend, handle) == ExitStatus(-9, signalled=True, reason="killed")


def test_terminate_is_graceful(ray_backend: RayBackend, nodes: dict[str, str]) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('got SIGTERM, saving', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    spec = ray_spec([PY, "-c", code], [nodes["head"], nodes["w1"]])
    handle = ray_backend.start(spec)
    wait_for(lambda: ray_backend.logs(spec.job_id, 1).count("ready") == 2, what="both ready")

    ray_backend.terminate(handle)
    ray_backend.terminate(handle)  # idempotent
    status = wait_status(ray_backend, handle, timeout_s=20)

    assert status.succeeded
    assert ray_backend.logs(spec.job_id, 1).count("got SIGTERM, saving") == 2


def test_kill_stops_a_job_that_ignores_sigterm(
    ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"child = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    spec = ray_spec([PY, "-c", code], [nodes["w1"]], gpus_per_node=2)
    handle = ray_backend.start(spec)
    wait_for(lambda: "child" in ray_backend.logs(spec.job_id, 1), what="child started")
    child = int(ray_backend.logs(spec.job_id, 1).split()[1])

    ray_backend.terminate(handle)
    assert ray_backend.poll(handle) is None  # SIGTERM ignored
    ray_backend.kill(handle)
    ray_backend.kill(handle)  # idempotent

    assert ray_backend.poll(handle) == ExitStatus(-9, signalled=True, reason="killed")
    assert not ray_backend.adopt(handle)
    assert group_gone(group_name(spec.job_id, 1))
    wait_for(lambda: not _alive(child), timeout_s=10, what="the job's child killed too")


def test_failing_rank_fails_the_gang(ray_backend: RayBackend, nodes: dict[str, str]) -> None:
    code = "import os, time; r = int(os.environ['RANK']); time.sleep(60 if r == 0 else 0); exit(7)"
    spec = ray_spec([PY, "-c", code], [nodes["head"], nodes["w1"]])
    handle = ray_backend.start(spec)

    status = wait_status(ray_backend, handle, timeout_s=30)

    assert status == ExitStatus(7, reason="rank 1: exit code 7")


def test_logs_while_running_and_unknown_attempt(
    ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    code = "import time; print('tick', flush=True); time.sleep(30)"
    spec = ray_spec([PY, "-c", code], [nodes["head"]])
    handle = ray_backend.start(spec)
    try:
        wait_for(lambda: "tick" in ray_backend.logs(spec.job_id, 1), what="live logs")
    finally:
        ray_backend.kill(handle)
    assert "tick" in ray_backend.logs(spec.job_id, 1)  # kept after the end
    assert ray_backend.logs(spec.job_id, 2) == ""
    assert ray_backend.logs("../etc", 1) == ""


def test_missing_command_fails_cleanly(ray_backend: RayBackend, nodes: dict[str, str]) -> None:
    spec = ray_spec(["/no/such/program"], [nodes["head"]])
    handle = ray_backend.start(spec)

    status = wait_status(ray_backend, handle)

    assert status.exit_code == 127
    assert "cannot run" in ray_backend.logs(spec.job_id, 1)


def test_start_on_unknown_node_leaves_nothing(ray_backend: RayBackend) -> None:
    spec = ray_spec([PY, "-c", "pass"], ["f" * 56])
    with pytest.raises(RayBackendError, match="not alive"):
        ray_backend.start(spec)
    assert group_gone(group_name(spec.job_id, 1))


def test_start_that_cannot_be_placed_times_out_and_cleans_up(
    ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    impatient = RayBackend(
        ray_backend.address,
        ray_backend.state_dir,
        ray_backend.namespace,
        start_timeout_s=2.0,
    )
    spec = ray_spec([PY, "-c", "pass"], [nodes["head"]], gpus_per_node=9)  # node has 8
    with pytest.raises(RayBackendError, match="could not reserve"):
        impatient.start(spec)
    assert group_gone(group_name(spec.job_id, 1))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
