"""The fleet discovered from a real cluster."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from ray_specs import node_ids

from gigawatt.backends.ray import RayBackend
from gigawatt.backends.ray.discovery import cluster_nodes, ray_ids
from gigawatt.backends.ray.localcluster import LocalRayCluster
from gigawatt.core.fleet import NodeSpec

pytestmark = pytest.mark.ray


def test_discover_nodes_reads_gpu_type_site_and_gpus(
    ray_backend: RayBackend, nodes: dict[str, str]
) -> None:
    found = {n.node_id: n for n in ray_backend.discover_nodes() or []}

    # both nodes declare the fleet-file node they stand for (gigawatt_node:<id>)
    assert found["e2e/h100-0000"] == NodeSpec("e2e/h100-0000", "ray", "H100", 8)
    assert found["e2e/h100-0001"] == NodeSpec("e2e/h100-0001", "west", "H100", 8)
    # which start() resolves to the Ray nodes
    assert ray_ids(cluster_nodes())["e2e/h100-0001"] == nodes["w1"]


def test_undeclared_nodes_are_known_by_their_ray_id(
    ray_cluster: LocalRayCluster, ray_backend: RayBackend
) -> None:
    ray_cluster.add_node("plain", gpus=2, gpu_type="A100", site="lab")
    try:
        plain = node_ids()["plain"]
        found = {n.node_id: n for n in ray_backend.discover_nodes() or []}
        assert found[plain] == NodeSpec(plain, "lab", "A100", 2)
    finally:
        ray_cluster.stop_node("plain")
