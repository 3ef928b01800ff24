"""The runner wrapper, the launch environment and NVML discovery."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gigawatt.backends import nvml, runner
from gigawatt.backends.launch_env import default_base_env, fold_indices

PY = sys.executable
RUNNER = runner.__file__


def test_exit_code_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.exit"
    assert runner.read_exit_code(path) is None
    runner.write_exit_code(str(path), -15)
    assert runner.read_exit_code(path) == -15
    assert not (tmp_path / "x.exit.tmp").exists()
    path.write_text("garbage")
    assert runner.read_exit_code(path) is None


def test_usage_error() -> None:
    assert runner.main(["only-one-arg"]) == 2
    assert runner.main(["exit", "not-dashes", "true"]) == 2


def test_runner_records_child_exit_code(tmp_path: Path) -> None:
    exit_file = tmp_path / "e"
    cmd = [PY, "-I", "-S", RUNNER, str(exit_file), "--", PY, "-c", "raise SystemExit(5)"]
    assert subprocess.run(cmd, timeout=30).returncode == 5
    assert runner.read_exit_code(exit_file) == 5


def test_runner_forwards_sigterm_and_records_the_signal(tmp_path: Path) -> None:
    exit_file = tmp_path / "e"
    code = "import time; print('up', flush=True); time.sleep(60)"
    cmd = [PY, "-I", "-S", RUNNER, str(exit_file), "--", PY, "-c", code]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    proc.send_signal(signal.SIGTERM)  # the runner alone, as the backend does
    assert proc.wait(timeout=5) == 128 + signal.SIGTERM
    assert runner.read_exit_code(exit_file) == -signal.SIGTERM


def test_runner_not_group_leader_forwards_to_child(tmp_path: Path) -> None:
    exit_file = tmp_path / "e"
    code = "import time; print('up', flush=True); time.sleep(60)"
    cmd = [PY, "-I", "-S", RUNNER, str(exit_file), "--", PY, "-c", code]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)  # shares pytest's group
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 128 + signal.SIGINT
    assert runner.read_exit_code(exit_file) == -signal.SIGINT


def test_default_base_env_is_minimal() -> None:
    env = default_base_env({"PATH": "/usr/bin", "HOME": "/h", "SECRET": "s", "LANG": "de_DE"})
    assert env["PATH"].split(":")[1:] == ["/usr/bin"]
    assert env["HOME"] == "/h" and env["LANG"] == "de_DE"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "SECRET" not in env
    assert default_base_env({})["LANG"] == "C.UTF-8"


def test_fold_indices() -> None:
    assert fold_indices([0, 1], 8) == [0, 1]
    assert fold_indices([5, 9, 1], 4) == [1]
    assert fold_indices([6, 7], 4) == [2, 3]


def test_nvml_degrades_quietly() -> None:
    gpus = nvml.gpu_inventory()
    assert isinstance(gpus, list)
    assert nvml.energy_counters_mj([]) is None
    if not gpus:
        assert nvml.energy_counters_mj([0]) is None
    assert nvml.mj_to_kwh(3.6e9) == pytest.approx(1.0)


@pytest.mark.skipif(not nvml.gpu_inventory(), reason="needs a real NVIDIA GPU")
def test_real_gpus_are_listed_and_metered() -> None:
    gpus = nvml.gpu_inventory()
    assert [g.index for g in gpus] == list(range(len(gpus)))
    assert all(g.uuid.startswith(("GPU-", "MIG-")) for g in gpus)
    before = nvml.energy_counters_mj([0])
    time.sleep(0.5)
    after = nvml.energy_counters_mj([0])
    if before is not None and after is not None:  # pre-Volta GPUs have no counter
        assert after[0] >= before[0]
