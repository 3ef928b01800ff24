"""Per-job limits (``POST /v1/jobs`` ``limits``) reach the rank's cgroup: a job that asks for
16 processes cannot start a 17th... and one that asks for 64 MiB is killed when it takes more."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from backend_specs import make_spec
from test_backend_local import wait

from gigawatt.backends import sandbox_cgroup as cgroup
from gigawatt.backends.local import LocalBackend, rank_limits
from gigawatt.backends.sandbox import SandboxPolicy

PY = sys.executable
NEEDS_CGROUPS = pytest.mark.skipif(
    not cgroup.layout() or not SandboxPolicy(Path("/tmp/gigawatt-probe")).probe().ok,
    reason="needs writable cgroups and bubblewrap",
)


def test_asked_limits_win_over_the_defaults() -> None:
    base = cgroup.Limits(pids_max=4096, memory_bytes=1 << 30, cpu_weight=1024)
    assert rank_limits(base, 2) == cgroup.Limits(4096, 2 << 30, 2048)
    asked = rank_limits(base, 2, {"memory_mb": 64, "pids": 16, "cpus": 3})
    assert asked == cgroup.Limits(pids_max=16, memory_bytes=64 << 20, cpu_weight=3 * 1024)


FORK = """
import subprocess, sys
children = []
try:
    for _ in range(64):
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError as exc:
    print("refused after", len(children), type(exc).__name__, flush=True)
    sys.exit(3)
print("started", len(children), flush=True)
"""

EAT = """
blocks = []
for i in range(40):
    blocks.append(bytearray(8 << 20))  # 320 MiB in all, touched
    blocks[-1][::4096] = b"x" * len(blocks[-1][::4096])
print("survived", flush=True)
"""


@NEEDS_CGROUPS
def test_pids_and_memory_limits_from_the_job_hold(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state", gpus=[], base_env={"PATH": os.environ["PATH"]})
    fork = replace(
        make_spec([PY, "-c", FORK], job_id="forks"),
        tenant_id="t",
        isolate=True,
        limits={"pids": 16},
    )
    status = wait(backend, backend.start(fork))
    log = backend.logs("forks", 1)
    assert status.exit_code == 3 and "refused after" in log, log
    eat = replace(
        make_spec([PY, "-c", EAT], job_id="eats"),
        tenant_id="t",
        isolate=True,
        limits={"memory_mb": 64},
    )
    status = wait(backend, backend.start(eat))
    assert not status.succeeded and "survived" not in backend.logs("eats", 1)
