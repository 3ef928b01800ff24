"""Sweeps as Ray tasks on the real cluster."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("ray")

from gigawatt.backends.ray import RayBackend
from gigawatt.backends.ray.tasks import map_on_ray

pytestmark = pytest.mark.ray


def test_map_on_ray_keeps_order_and_reports_progress(ray_backend: RayBackend) -> None:
    seen: list[int] = []
    # functions must be importable on the nodes: the stdlib's are
    out = map_on_ray(
        math.factorial, [3, 1, 4], ray_backend.address, num_cpus=0.5, on_done=seen.append
    )
    assert out == [6, 1, 24]
    assert seen == [1, 2, 3]


def test_map_on_ray_raises_a_task_error(ray_backend: RayBackend) -> None:
    with pytest.raises(ValueError, match="math domain error"):
        map_on_ray(math.sqrt, [-1.0], ray_backend.address, num_cpus=0.5)


def test_simulator_sweep_runs_as_ray_tasks(ray_backend: RayBackend, tmp_path: object) -> None:
    from pathlib import Path

    from gigawatt.scheduling.model import Ordering
    from gigawatt.sim.run import SimOptions
    from gigawatt.sim.sweep import run_sweep

    workload = Path(__file__).parents[3] / "src/gigawatt/sim/workloads/internal-only.yaml"
    scenarios = [
        (name, SimOptions(workload=workload, gpus=64, days=0.05, policy=policy, seed=1))
        for name, policy in (("fifo", Ordering.FIFO), ("priority", Ordering.PRIORITY))
    ]
    on_ray = run_sweep(scenarios, ray_address=ray_backend.address)
    local = run_sweep(scenarios, workers=1)
    assert [r["name"] for r in on_ray] == ["fifo", "priority"]
    for remote, here in zip(on_ray, local, strict=True):
        assert remote["jobs"] == here["jobs"] > 0
        assert remote["gpu_hours_by_tier"] == here["gpu_hours_by_tier"]
