"""kill -9 of the server while jobs run, then a restart: nothing lost, nothing billed twice,
nothing run twice, and what ended while the server was down billed to its real end."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import PY, Client, Server, assert_billed_as_allocated
from sandbox_support import (
    argv_of,
    attempt_dir,
    leftover_processes,
    rank_record,
    runner_pids,
    sweep_state,
    wait_pids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Start = Callable[..., tuple[Server, Client]]


@pytest.fixture(autouse=True)
def _no_job_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    yield
    sweep_state(tmp_path / "state")


def _sleeper(marker: str, seconds: float) -> list[str]:
    """A job that says it started (in its log and work dir) and sleeps; ``marker`` finds it."""
    code = (
        "import pathlib, time; pathlib.Path('started').write_text('yes'); "
        f"print('started {marker}', flush=True); time.sleep({seconds})"
    )
    return [PY, "-c", code, marker]


def _billed(client: Client, job_id: str, attempt: int) -> float:
    usage = client.get("/v1/usage", params={"job_id": job_id})
    return float(sum(u["gpu_seconds"] for u in usage if u["attempt"] == attempt))


def _wait_dead(server: Server, timeout: float = 30.0) -> None:
    assert server.proc is not None
    server.proc.wait(timeout)
    assert server.proc.returncode == -signal.SIGKILL, server.proc.returncode
    server.proc = None


def test_kill_9_mid_job_then_restart_keeps_billing_exact(start_server: Start) -> None:
    server, admin = start_server()
    state = server.workdir / "state"
    _, ext, _ = admin.tenant("ext")
    tag = uuid.uuid4().hex[:8]
    survivor = ext.submit(_sleeper(f"a-{tag}", 6), gpus=2, tier="on_demand")
    finisher = ext.submit(_sleeper(f"b-{tag}", 1.5), gpus=2, tier="on_demand")
    victim = ext.submit(_sleeper(f"c-{tag}", 60), gpus=4, tier="on_demand")
    for job in (survivor, finisher, victim):
        ext.wait_status(job["id"], "running")
    (victim_pid,) = wait_pids(f"c-{tag}", PY)
    wait_pids(f"a-{tag}", PY)
    wait_pids(f"b-{tag}", PY)
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
    assert attempt["ended_at"] - attempt["started_at"] < 30  # not billed for the downtime

    # what ended while the server was down is billed to the end its runner recorded
    for job in (finisher, victim):
        real = rank_record(state, job["id"], 1)
        assert real.started_at is not None and real.ended_at is not None, real
        gpus = job["gpus"]
        assert abs(_billed(ext, job["id"], 1) - gpus * (real.ended_at - real.started_at)) <= gpus
    # every usage piece is billed once
    usage = ext.get("/v1/usage")
    assert len({(u["job_id"], u["attempt"], u["start"]) for u in usage}) == len(usage) == 3
    assert admin.get("/v1/fleet")["gpus_allocated"] == 0
    assert leftover_processes(state) == {} and runner_pids(state) == []


def test_kill_9_between_start_and_record_runs_the_job_once(
    start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double run of issue 10: the server dies after the backend started the attempt and
    before it recorded the launch. The restarted server adopts that run; it never starts a
    second one."""
    monkeypatch.setenv("GIGAWATT_CRASH_POINT", "launch.after_start")
    server, admin = start_server()
    state = server.workdir / "state"
    _, ext, _ = admin.tenant("ext")
    tag = uuid.uuid4().hex[:8]
    job = ext.submit(_sleeper(f"once-{tag}", 2.5), gpus=2, tier="on_demand")
    _wait_dead(server)  # killed itself right after backend.start
    (first,) = wait_pids(f"once-{tag}", PY)  # the run it started goes on without it
    monkeypatch.delenv("GIGAWATT_CRASH_POINT")
    server.start()
    done = ext.wait_status(job["id"], "succeeded", "failed", timeout=30)
    assert done["status"] == "succeeded", done
    assert [a["attempt"] for a in done["attempts"]] == [1]  # adopted, not requeued
    assert not attempt_dir(state, job["id"], 2).exists()  # no second run was ever launched
    assert ext.get(f"/v1/jobs/{job['id']}/logs")["logs"].count("started") == 1
    assert "launched but not recorded: adopted" in server.logs()
    real = rank_record(state, job["id"], 1)
    assert real.started_at is not None and real.ended_at is not None
    assert abs(_billed(ext, job["id"], 1) - 2 * (real.ended_at - real.started_at)) <= 2.0
    assert_billed_as_allocated(ext, done)
    assert f"once-{tag}" not in " ".join(argv_of(first))  # that run is over
    assert leftover_processes(state) == {} and runner_pids(state) == []


def test_kill_9_before_start_requeues_unbilled(
    start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies after recording the launch intent, before starting anything: the
    restarted server fences the attempt, bills nothing for it and runs the job once."""
    monkeypatch.setenv("GIGAWATT_CRASH_POINT", "launch.before_start")
    server, admin = start_server()
    state = server.workdir / "state"
    _, ext, _ = admin.tenant("ext")
    tag = uuid.uuid4().hex[:8]
    job = ext.submit(_sleeper(f"late-{tag}", 1.0), gpus=1, tier="on_demand")
    _wait_dead(server)
    monkeypatch.delenv("GIGAWATT_CRASH_POINT")
    server.start()
    done = ext.wait_status(job["id"], "succeeded", "failed", timeout=30)
    assert done["status"] == "succeeded", done
    first, _ = done["attempts"]
    assert first["status"] == "failed" and "never launched" in first["reason"], first
    assert _billed(ext, job["id"], 1) == 0.0
    assert rank_record(state, job["id"], 1).fenced  # can never start now
    real = rank_record(state, job["id"], 2)
    assert real.started_at is not None and real.ended_at is not None
    assert abs(_billed(ext, job["id"], 2) - (real.ended_at - real.started_at)) <= 1.0
    assert leftover_processes(state) == {} and runner_pids(state) == []
