"""LocalBackend with real processes: lifecycle, signals, logs, environment."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from backend_specs import make_spec

from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.backends.layout import TRUNCATED
from gigawatt.backends.local import LocalBackend
from gigawatt.backends.nvml import GpuInfo, gpu_inventory
from gigawatt.core.errors import InvalidInput

PY = sys.executable


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path, gpus=[])


def wait(backend: LocalBackend, handle: Handle, timeout: float = 10.0) -> ExitStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = backend.poll(handle)
        if status is not None:
            return status
        time.sleep(0.02)
    raise AssertionError(f"{handle.job_id} still running after {timeout}s")


def wait_for_log(backend: LocalBackend, text: str, job_id: str = "job-1", attempt: int = 1) -> None:
    deadline = time.monotonic() + 10
    while text not in backend.logs(job_id, attempt):
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log"
        time.sleep(0.02)


def test_success_and_logs(backend: LocalBackend) -> None:
    h = backend.start(
        make_spec([PY, "-c", "print('hi'); import sys; print('err', file=sys.stderr)"])
    )
    status = wait(backend, h)
    assert status == ExitStatus(0) and status.succeeded
    assert backend.logs("job-1", 1) == "hi\nerr\n"
    assert backend.logs("job-1", 2) == ""
    assert backend.energy_kwh(h) is None  # no GPUs: catalogue power x time


def test_nonzero_exit_is_failure(backend: LocalBackend) -> None:
    h = backend.start(make_spec([PY, "-c", "raise SystemExit(3)"]))
    status = wait(backend, h)
    assert status == ExitStatus(3, signalled=False, reason="exit code 3")
    assert not status.succeeded


def test_command_not_found(backend: LocalBackend) -> None:
    h = backend.start(make_spec(["/nonexistent/train"]))
    assert wait(backend, h).exit_code == 127
    assert "cannot run '/nonexistent/train'" in backend.logs("job-1", 1)


def test_terminate_ends_within_a_second(backend: LocalBackend) -> None:
    h = backend.start(make_spec([PY, "-c", "import time; time.sleep(60)"]))
    assert backend.poll(h) is None
    backend.terminate(h)
    status = wait(backend, h, timeout=1.0)
    assert status == ExitStatus(-15, signalled=True, reason="signal SIGTERM")
    backend.terminate(h)  # idempotent, safe once gone
    backend.kill(h)
    assert backend.poll(h) == status


def test_terminate_right_after_start_is_not_lost(backend: LocalBackend) -> None:
    h = backend.start(make_spec([PY, "-c", "import time; time.sleep(60)"]))
    backend.terminate(h)  # before the runner has even set up its handlers
    status = wait(backend, h, timeout=5.0)
    assert (status.exit_code, status.signalled) == (-15, True)


IGNORE_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def test_sigterm_ignored_survives_until_kill(backend: LocalBackend) -> None:
    h = backend.start(make_spec([PY, "-c", IGNORE_TERM]))
    wait_for_log(backend, "ready")
    backend.terminate(h)
    time.sleep(0.5)
    assert backend.poll(h) is None
    assert backend.adopt(h)
    backend.kill(h)
    status = wait(backend, h, timeout=1.0)
    assert status == ExitStatus(-9, signalled=True, reason="killed")
    assert not backend.adopt(h)
    backend.kill(h)


def test_leftover_processes_of_a_finished_job_are_killed(backend: LocalBackend) -> None:
    code = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(p.pid, flush=True)"
    )
    h = backend.start(make_spec([PY, "-c", code]))
    assert wait(backend, h) == ExitStatus(0)
    orphan = int(backend.logs("job-1", 1).split()[0])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{orphan}").exists() and "Z" not in _state(orphan):
        assert time.monotonic() < deadline, "the job's background process outlived it"
        time.sleep(0.02)


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rfind(")") + 2]


def test_finished_runner_is_reaped(backend: LocalBackend) -> None:
    h = backend.start(make_spec([PY, "-c", "pass"]))
    wait(backend, h)
    pid = int(h.data["ranks"][0]["pid"])  # type: ignore[index]
    deadline = time.monotonic() + 5
    while _state(pid) != "gone":  # any later call reaps what has exited since
        assert time.monotonic() < deadline, f"runner {pid} left as {_state(pid)}"
        time.sleep(0.02)
        assert backend.poll(h) == ExitStatus(0)


def test_environment(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, gpus=[], base_env={"PATH": os.environ["PATH"], "BASE": "b"})
    code = (
        "import os, json; print(json.dumps({k: v for k, v in os.environ.items() "
        "if k not in ('LC_CTYPE',)}))"
    )
    env = {"MINE": "x", "GIGAWATT_JOB_ID": "spoofed", "BASE": "overridden"}
    h = backend.start(make_spec([PY, "-c", code], env=env, gpus_per_node=2))
    assert wait(backend, h).succeeded
    seen = json.loads(backend.logs("job-1", 1))
    assert seen["MINE"] == "x" and seen["BASE"] == "overridden"
    assert seen["GIGAWATT_JOB_ID"] == "job-1"
    assert seen["GIGAWATT_ATTEMPT"] == "1"
    assert seen["GIGAWATT_GPUS"] == "2"
    assert seen["GIGAWATT_GPU_TYPE"] == "H100"
    assert seen["GIGAWATT_GPU_INDICES"] == "0,1"
    assert (seen["RANK"], seen["WORLD_SIZE"], seen["LOCAL_RANK"]) == ("0", "1", "0")
    assert "CUDA_VISIBLE_DEVICES" not in seen  # logical fleet: left unset
    assert "HOME" not in seen  # nothing leaks from the control plane's environment


def test_cuda_visible_devices_follow_placement_with_real_gpus(tmp_path: Path) -> None:
    gpus = [GpuInfo(i, "NVIDIA H100", f"GPU-{i}") for i in range(4)]
    backend = LocalBackend(tmp_path, gpus=gpus)
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['CUDA_DEVICE_ORDER'])"
    spec = make_spec([PY, "-c", code], nodes=1, gpus_per_node=2)
    spec = replace(spec, gpu_indices=((2, 3),))
    h = backend.start(spec)
    assert wait(backend, h).succeeded
    assert backend.logs("job-1", 1) == "2,3 PCI_BUS_ID\n"
    # A logical fleet bigger than the machine folds onto the real GPUs.
    spec = replace(spec, attempt=2, gpu_indices=((5, 9),))
    h = backend.start(spec)
    assert wait(backend, h).succeeded
    assert backend.logs("job-1", 2) == "1 PCI_BUS_ID\n"


def test_bad_inputs_rejected(backend: LocalBackend) -> None:
    with pytest.raises(InvalidInput):
        backend.start(make_spec([PY], job_id="../escape"))
    with pytest.raises(InvalidInput):
        backend.start(make_spec([]))
    with pytest.raises(InvalidInput):
        backend.start(make_spec([PY], env={"A": "nul\0byte"}))
    assert backend.logs("../escape", 1) == ""


def test_malformed_handle_is_lost_not_a_crash(backend: LocalBackend) -> None:
    h = Handle("job-1", 1, {"backend": "fake"})
    assert not backend.adopt(h)
    status = backend.poll(h)
    assert status is not None and status.reason == "lost"
    backend.terminate(h)
    backend.kill(h)


def test_logs_are_bounded(backend: LocalBackend) -> None:
    code = "import sys\nfor i in range(40000): print(f'line {i:06d} ' + 'x' * 40)"
    h = backend.start(make_spec([PY, "-c", code]))
    assert wait(backend, h).succeeded
    text = backend.logs("job-1", 1)
    assert len(text.encode()) <= 1 << 20
    assert text.startswith(TRUNCATED)
    assert text.endswith("line 039999 " + "x" * 40 + "\n")
    assert "line 000000" not in text
    second_line = text.splitlines()[1]
    assert second_line.startswith("line ") and len(second_line) == 52  # no partial line


def test_rerun_of_an_attempt_ignores_stale_exit_file(backend: LocalBackend) -> None:
    h = backend.start(make_spec([PY, "-c", "raise SystemExit(4)"]))
    assert wait(backend, h).exit_code == 4
    h = backend.start(make_spec([PY, "-c", "import time; time.sleep(0.3)"]))
    assert backend.poll(h) is None
    assert wait(backend, h).succeeded


@pytest.mark.skipif(not gpu_inventory(), reason="needs a real NVIDIA GPU")
def test_real_gpu_placement_and_energy(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)  # discovers the machine's GPUs
    assert backend.gpus
    code = "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES']); time.sleep(0.5)"
    h = backend.start(make_spec([PY, "-c", code]))
    assert wait(backend, h).succeeded
    assert backend.logs("job-1", 1) == "0\n"
    energy = backend.energy_kwh(h)
    assert energy is None or energy >= 0.0  # None on GPUs without an energy counter
