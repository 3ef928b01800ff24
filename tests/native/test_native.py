"""The compiled hot path (mypyc) decides exactly as its sources, and never runs stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gigawatt
from gigawatt import native

HERE = Path(__file__).resolve().parent


def _trace(pure: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.pop("GIGAWATT_PURE", None)
    if pure:
        env["GIGAWATT_PURE"] = "1"
    out = subprocess.run(
        [sys.executable, str(HERE / "native_trace.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.slow
def test_compiled_build_decides_as_the_sources() -> None:
    if gigawatt.NATIVE_BUILD != "compiled":
        pytest.skip("no compiled build in this checkout (make build)")
    compiled, pure = _trace(pure=False), _trace(pure=True)
    assert compiled["build"] == "compiled"
    assert pure["build"] == "pure"
    scenarios = compiled["scenarios"]
    assert isinstance(scenarios, dict)
    assert set(scenarios) == {"priority-queues", "fifo-skip", "sjf", "fifo", "capped-reserved"}
    assert scenarios["priority-queues"][1] > 0  # preemptions happened: that path is covered
    assert scenarios == pure["scenarios"]


def test_ci_runs_the_compiled_build() -> None:
    """CI has a C compiler: an install that fell back to pure Python there is a failed build."""
    if os.environ.get("CI", "") in ("", "0", "false"):
        pytest.skip("only checked in CI")
    assert gigawatt.NATIVE_BUILD == "compiled", native.stale_modules()


def test_an_edited_source_makes_its_extension_stale(tmp_path: Path) -> None:
    module = "gigawatt.sim.grid"
    source = tmp_path / "gigawatt" / "sim" / "grid.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    ext = source.with_suffix(native.importlib.machinery.EXTENSION_SUFFIXES[0])
    ext.write_bytes(b"")
    os.utime(source, (1_000_000.0, 1_000_000.0))
    os.utime(ext, (1_000_010.0, 1_000_010.0))
    assert native.stale_modules(tmp_path) == []
    os.utime(source, (1_000_020.0, 1_000_020.0))  # edited after the build
    assert native.stale_modules(tmp_path) == [module]


def test_gigawatt_pure_forces_the_sources() -> None:
    code = (
        "import gigawatt, gigawatt.native as n, gigawatt.sim.stream as s;"
        "print(gigawatt.NATIVE_BUILD, n.build(), s.__file__.endswith('.py'))"
    )
    env = dict(os.environ, GIGAWATT_PURE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["pure", "pure", "True"]
