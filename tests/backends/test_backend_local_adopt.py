"""Restart safety: a control plane killed with -9, a new backend over the same state dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_backend_local import wait

from gigawatt.backends import procs
from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.backends.local import LocalBackend

PY = sys.executable

CONTROL_PLANE = """
import json, os, sys
from pathlib import Path
from gigawatt.backends.base import LaunchSpec
from gigawatt.backends.local import LocalBackend
backend = LocalBackend(Path(sys.argv[1]), gpus=[])
nodes = int(sys.argv[3])
spec = LaunchSpec(
    job_id="job-1", attempt=1, command=tuple(json.loads(sys.argv[2])), env={},
    placement=tuple((f"n{i}", 1) for i in range(nodes)), gpu_indices=((0,),) * nodes,
    gpu_type="H100",
)
handle = backend.start(spec)
print(json.dumps(handle.data), flush=True)
os.kill(os.getpid(), 9)
"""


def start_and_crash(state_dir: Path, command: list[str], nodes: int = 1) -> Handle:
    """Start an attempt from a separate control-plane process, which then dies by SIGKILL."""
    out = subprocess.run(
        [PY, "-c", CONTROL_PLANE, str(state_dir), json.dumps(command), str(nodes)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == -9, out.stderr
    return Handle("job-1", 1, json.loads(out.stdout))  # JSON round trip, as through the DB


def wait_until_dead(handle: Handle) -> None:
    deadline = time.monotonic() + 5
    for r in handle.data["ranks"]:  # type: ignore[attr-defined]
        proc = procs.ProcessId(r["pid"], r["start_time"], procs.boot_id())
        while procs.is_alive(proc):
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_adopt_running_job_then_see_its_real_exit_code(tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = (
        f"import os, sys, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "sys.exit(7)"
    )
    handle = start_and_crash(tmp_path, [PY, "-c", code])
    backend = LocalBackend(tmp_path, gpus=[])
    assert backend.adopt(handle)
    assert backend.poll(handle) is None
    go.touch()
    assert wait(backend, handle) == ExitStatus(7, reason="exit code 7")
    assert not backend.adopt(handle)


def test_adopted_job_can_be_terminated(tmp_path: Path) -> None:
    handle = start_and_crash(tmp_path, [PY, "-c", "import time; time.sleep(60)"], nodes=2)
    backend = LocalBackend(tmp_path, gpus=[])
    assert backend.adopt(handle)
    backend.terminate(handle)
    status = wait(backend, handle, timeout=2)
    assert (status.exit_code, status.signalled) == (-15, True)


def test_job_that_finished_while_down_is_not_adopted_but_reports_its_code(tmp_path: Path) -> None:
    handle = start_and_crash(tmp_path, [PY, "-c", "print('done')"])
    wait_until_dead(handle)
    backend = LocalBackend(tmp_path, gpus=[])
    assert not backend.adopt(handle)
    assert backend.poll(handle) == ExitStatus(0)
    assert backend.logs("job-1", 1) == "done\n"


def test_job_killed_while_down_is_lost(tmp_path: Path) -> None:
    handle = start_and_crash(tmp_path, [PY, "-c", "import time; time.sleep(60)"])
    os.killpg(handle.data["ranks"][0]["pid"], signal.SIGKILL)  # type: ignore[index]
    wait_until_dead(handle)
    backend = LocalBackend(tmp_path, gpus=[])
    assert not backend.adopt(handle)
    assert backend.poll(handle) == ExitStatus(-9, signalled=True, reason="lost")


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process in its own session that is not one of ours."""
    proc = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_pid_reuse_is_detected_and_never_signalled(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    real = procs.start_time(stranger.pid)
    assert real is not None
    data: dict[str, object] = {
        "dir": str(tmp_path / "jobs/job-1/attempt-1"),
        "boot_id": procs.boot_id(),
        "ranks": [{"pid": stranger.pid, "start_time": real - 1}],
    }
    handle = Handle("job-1", 1, data)
    backend = LocalBackend(tmp_path, gpus=[])
    assert not backend.adopt(handle)
    backend.terminate(handle)
    backend.kill(handle)
    status = backend.poll(handle)
    assert status is not None and status.reason in ("lost", "killed")
    time.sleep(0.2)
    assert stranger.poll() is None  # the stranger was left alone
    # With its true start time the same pid is recognised...
    ok = Handle("job-1", 1, {**data, "ranks": [{"pid": stranger.pid, "start_time": real}]})
    assert backend.adopt(ok)
    # ...but not from another boot.
    other_boot = Handle("job-1", 1, {**ok.data, "boot_id": "another-boot"})
    assert not backend.adopt(other_boot)
    backend.kill(other_boot)
    time.sleep(0.2)
    assert stranger.poll() is None
