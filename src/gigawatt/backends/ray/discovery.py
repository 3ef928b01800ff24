"""The fleet as Ray sees it: GPU nodes from ``ray.nodes()``.

A node counts when it is alive and has ``GPU`` resources. Its GPU type comes from the custom
resource ``gpu_type:<TYPE>`` (the one with the most units if several), else from Ray's own
``accelerator_type:<TYPE>`` resource (set on machines with real GPUs); its site from a
``site:<name>`` resource (default ``ray``). Its id is Ray's hex node id, unless the node
declares which node of a fleet file it is with a ``gigawatt_node:<node id>`` resource (so a
fleet file with power budgets can describe the cluster): then that id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ray

from gigawatt.backends.ray.placement import FLEET_NODE_PREFIX, GPU_TYPE_PREFIX, SITE_PREFIX
from gigawatt.core.fleet import NodeSpec

DEFAULT_SITE = "ray"
ACCELERATOR_PREFIX = "accelerator_type:"
UNKNOWN_GPU_TYPE = "unknown"


def _named(resources: Mapping[str, float], prefix: str) -> str | None:
    """The suffix of the ``prefix``-resource with the most units (ties: by name), or None."""
    found = [(-float(v), k[len(prefix) :]) for k, v in resources.items() if k.startswith(prefix)]
    found = [f for f in found if f[1]]
    return min(found)[1] if found else None


def cluster_nodes() -> list[dict[str, Any]]:
    """``ray.nodes()``: every node the cluster has known, alive or dead."""
    return list(ray.nodes())  # type: ignore[no-untyped-call]


def node_spec(node: Mapping[str, Any]) -> NodeSpec | None:
    """The fleet node for one ``ray.nodes()`` entry, None when dead or without GPUs."""
    if not node.get("Alive"):
        return None
    resources = node.get("Resources") or {}
    gpus = int(float(resources.get("GPU", 0)))
    node_id = node.get("NodeID")
    if gpus <= 0 or not isinstance(node_id, str) or not node_id:
        return None
    gpu_type = (
        _named(resources, GPU_TYPE_PREFIX)
        or _named(resources, ACCELERATOR_PREFIX)
        or UNKNOWN_GPU_TYPE
    )
    site = _named(resources, SITE_PREFIX) or DEFAULT_SITE
    declared = _named(resources, FLEET_NODE_PREFIX)
    return NodeSpec(node_id=declared or node_id, site=site, gpu_type=gpu_type, gpus=gpus)


def fleet_nodes(nodes: Iterable[Mapping[str, Any]]) -> list[NodeSpec]:
    """Every alive GPU node, sorted by (site, node id) so the order is stable."""
    specs = [s for s in (node_spec(n) for n in nodes) if s is not None]
    return sorted(specs, key=lambda s: (s.site, s.node_id))


def ray_ids(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Gigawatt node id -> Ray node id for the alive nodes: each Ray id maps to itself, and a
    declared fleet node id (``gigawatt_node:<id>``) to its node."""
    out: dict[str, str] = {}
    for n in nodes:
        if not n.get("Alive") or not n.get("NodeID"):
            continue
        ray_id = str(n["NodeID"])
        out[ray_id] = ray_id
        declared = _named(n.get("Resources") or {}, FLEET_NODE_PREFIX)
        if declared:
            out[declared] = ray_id
    return out


def alive_ids(nodes: Iterable[Mapping[str, Any]]) -> set[str]:
    """Ids of the nodes Ray reports alive."""
    return {str(n["NodeID"]) for n in nodes if n.get("Alive") and n.get("NodeID")}


def addresses(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Node id -> the node's IP address (``NodeManagerAddress``), alive nodes only."""
    return {
        str(n["NodeID"]): str(n.get("NodeManagerAddress", ""))
        for n in nodes
        if n.get("Alive") and n.get("NodeID")
    }
