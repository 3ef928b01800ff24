"""External tenants' ranks on Ray run sandboxed on their node, like on the local backend:
their own uid, PID namespace and /tmp, other ranks' directories hidden, nothing left behind."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ray_specs import (  # noqa: E402
    NAMESPACE,
    ray_spec,
    wait_for,
    wait_status,
)

from gigawatt.backends.ray import RayBackend  # noqa: E402
from gigawatt.backends.ray.localcluster import LocalRayCluster  # noqa: E402

pytestmark = pytest.mark.ray

PY = sys.executable
PROBE = r"""
import json, os, subprocess, sys
other = sys.argv[1]
def can_read(path):
    try:
        open(path).read()
        return True
    except OSError:
        return False
marker = sys.argv[2]
subprocess.Popen(["setsid", "sh", "-c", f"exec -a {marker} sleep 300"])  # try to outlive it
print(json.dumps({
    "uid": os.getuid(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "tmp": os.listdir("/tmp"),
    "other_log": can_read(other),
    "other_dir": os.path.exists(os.path.dirname(other)),
    "home": os.environ.get("HOME"),
    "secret": os.environ.get("SERVER_SECRET"),
}), flush=True)
"""


def leftovers(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.startswith(marker)]


def test_external_rank_is_sandboxed_and_leaves_nothing(
    ray_backend: RayBackend,
    ray_cluster: LocalRayCluster,
    nodes: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if ray_backend.isolation() != "bwrap":
        pytest.skip("bubblewrap cannot run on this host")
    monkeypatch.setenv("SERVER_SECRET", "must-not-leak")
    other = ray_spec(
        [PY, "-c", "import time; print('other tenant'); time.sleep(20)"], [nodes["head"]]
    )
    other = dataclasses.replace(other, tenant_id="tenant-b", isolate=False)
    other_handle = ray_backend.start(other)
    other_log = ray_cluster.root / "work" / NAMESPACE / other.job_id / "attempt-1" / "rank-0.log"
    wait_for(other_log.exists, what="the other tenant's rank log")
    marker = f"gw-leftover-{uuid.uuid4().hex[:8]}"
    spec = ray_spec([PY, "-c", PROBE, str(other_log), marker], [nodes["head"]])
    spec = dataclasses.replace(spec, tenant_id="tenant-a", isolate=True)
    handle = ray_backend.start(spec)
    status = wait_status(ray_backend, handle)
    assert status.succeeded, ray_backend.logs(spec.job_id, 1)
    output = ray_backend.logs(spec.job_id, 1)
    seen = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    assert seen["uid"] != 0  # the tenant's own unprivileged user
    assert len(seen["pids"]) <= 4  # its own PID namespace: itself and its children only
    # private: only the skeleton of paths bound back (its own dir; this Python if under /tmp)
    bound = {ray_cluster.root.name}
    bound |= {Path(sys.prefix).parts[2]} if Path(sys.prefix).parts[1:2] == ("tmp",) else set()
    assert set(seen["tmp"]) <= bound
    assert seen["home"].endswith(f"{spec.job_id}/attempt-1")
    assert not seen["other_log"] and not seen["other_dir"]
    assert seen["secret"] is None  # the server's environment does not reach the job
    wait_for(lambda: not leftovers(marker), what="the sandbox's processes gone")
    ray_backend.kill(other_handle)
    wait_status(ray_backend, other_handle)
