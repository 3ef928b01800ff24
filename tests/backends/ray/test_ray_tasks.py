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
