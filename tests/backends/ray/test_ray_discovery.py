"""The fleet discovered from a real cluster."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from gigawatt.backends.ray import RayBackend
from gigawatt.core.fleet import NodeSpec

pytestmark = pytest.mark.ray


def test_discover_nodes_reads_gpu_type_site_and_gpus(
    ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    found = {n.node_id: n for n in ray_backend.discover_nodes() or []}

    assert found[nodes["head"]] == NodeSpec(nodes["head"], "ray", "H100", 8)
    assert found[nodes["w1"]] == NodeSpec(nodes["w1"], "west", "H100", 8)
