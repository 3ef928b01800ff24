"""A sandboxed rank sees the device nodes of its own GPUs and no other GPU.

No NVIDIA GPU is needed: the policy's ``dev_root`` points at a directory of stand-in nodes, and
real bubblewrap binds them into the job's fresh ``/dev``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gigawatt.backends.sandbox import SandboxPolicy

PY = sys.executable


def fake_dev(tmp_path: Path) -> Path:
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidiactl", "nvidia-uvm"):
        (dev / name).write_text(name)
    return dev


def test_only_the_allocated_gpus_and_the_control_nodes_are_bound(tmp_path: Path) -> None:
    policy = SandboxPolicy(tmp_path / "state", dev_root=fake_dev(tmp_path))
    args = policy.gpu_devices([3, 1])
    bound = [args[i + 2] for i in range(0, len(args), 3)]
    assert bound == ["/dev/nvidia1", "/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert policy.gpu_devices([]) == []  # no GPU: no driver node either
    assert policy.gpu_devices([7]) == []  # a GPU the host does not have


def test_the_job_sees_its_gpus_nodes_only(tmp_path: Path) -> None:
    policy = SandboxPolicy(tmp_path / "state", dev_root=fake_dev(tmp_path))
    if not policy.probe().ok:
        pytest.skip("bubblewrap cannot run here (make system-deps installs it)")
    work = tmp_path / "work"
    policy.prepare_workdir(work, policy.uid_base)
    code = (
        "import json, os; print(json.dumps(sorted(n for n in os.listdir('/dev') if 'nvidia' in n)))"
    )
    argv = policy.argv(work, policy.uid_base, [PY, "-c", code], gpus=[2])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["nvidia-uvm", "nvidia2", "nvidiactl"]
