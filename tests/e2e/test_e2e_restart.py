"""kill -9 of the server while jobs run, then a restart: nothing lost, nothing billed twice."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import PY, Client, Server, assert_billed_as_allocated

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Start = Callable[..., tuple[Server, Client]]


def _pid_script(path: Path, seconds: float) -> list[str]:
    code = (
        "import os, time, pathlib; "
        f"pathlib.Path({str(path)!r}).write_text(str(os.getpid())); "
        f"time.sleep({seconds})"
    )
    return [PY, "-c", code]


def _wait_file(path: Path, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return int(path.read_text())


def test_kill_9_mid_job_then_restart_keeps_billing_exact(
    start_server: Start, tmp_path: Path
) -> None:
    server, admin = start_server()
    _, ext, _ = admin.tenant("ext")
    survivor = ext.submit(_pid_script(tmp_path / "a.pid", 6), gpus=2, tier="on_demand")
    finisher = ext.submit(_pid_script(tmp_path / "b.pid", 1.5), gpus=2, tier="on_demand")
    victim = ext.submit(_pid_script(tmp_path / "c.pid", 60), gpus=4, tier="on_demand")
    for job in (survivor, finisher, victim):
        ext.wait_status(job["id"], "running")
    victim_pid = _wait_file(tmp_path / "c.pid")
    _wait_file(tmp_path / "a.pid")
    _wait_file(tmp_path / "b.pid")
    time.sleep(0.5)
    server.stop(signal.SIGKILL)  # no shutdown: heartbeats just stop
    os.kill(victim_pid, signal.SIGKILL)  # this one dies while the server is down
    time.sleep(2.0)  # the finisher ends while the server is down
    server.start()

    done = ext.wait_status(survivor["id"], "succeeded", "failed", timeout=30)
    assert done["status"] == "succeeded", done  # adopted: it kept running
    assert len(done["attempts"]) == 1
    assert_billed_as_allocated(ext, done)

    ended = ext.wait_status(finisher["id"], "succeeded", "failed")
    assert ended["status"] == "succeeded", ended  # its exit code was found after restart
    assert_billed_as_allocated(ext, ended)

    lost = ext.wait_status(victim["id"], "failed")
    (attempt,) = lost["attempts"]
    assert attempt["status"] == "failed"
    assert_billed_as_allocated(ext, lost)
    # billed only up to the last heartbeat before the kill: well under the downtime
    assert attempt["ended_at"] - attempt["started_at"] < 30

    # every usage piece is billed once
    usage = ext.get("/v1/usage")
    assert len({(u["job_id"], u["attempt"], u["start"]) for u in usage}) == len(usage) == 3
    assert admin.get("/v1/fleet")["gpus_allocated"] == 0
