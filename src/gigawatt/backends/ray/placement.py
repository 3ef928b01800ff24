"""How an attempt maps onto Ray: names, bundles, strategy and node pinning (pure functions).

An attempt of job ``J`` becomes one detached placement group ``gw:J:<attempt>`` with one
bundle per node of its placement, each bundle asking for ``GPU`` and the custom resource
``gpu_type:<TYPE>`` once per GPU and pinned with a bundle label selector on Ray's default node
label ``ray.io/node-id`` to the node Gigawatt's scheduler chose. One detached actor per rank,
``gw:J:<attempt>:<rank>``, runs in bundle ``rank``. Single-node attempts use ``STRICT_PACK``,
gangs ``STRICT_SPREAD`` (whole nodes, one bundle each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gigawatt.backends.base import LaunchSpec
from gigawatt.backends.layout import valid_job_id
from gigawatt.core.errors import InvalidInput

#: Ray's default node label holding the node id (hex); bundles are pinned with it.
NODE_ID_LABEL = "ray.io/node-id"
#: Custom resource prefixes read from (and requested of) Ray nodes.
GPU_TYPE_PREFIX = "gpu_type:"
SITE_PREFIX = "site:"
#: A node may declare which node of a fleet file it is: resource ``gigawatt_node:<node id>``.
FLEET_NODE_PREFIX = "gigawatt_node:"
NAME_PREFIX = "gw"


def gpu_type_resource(gpu_type: str) -> str:
    """The custom resource standing for one GPU of ``gpu_type``."""
    return f"{GPU_TYPE_PREFIX}{gpu_type}"


def group_name(job_id: str, attempt: int) -> str:
    """The placement group of one attempt."""
    return f"{NAME_PREFIX}:{job_id}:{attempt}"


def actor_name(job_id: str, attempt: int, rank: int) -> str:
    """The actor running ``rank`` of one attempt."""
    return f"{group_name(job_id, attempt)}:{rank}"


def parse_group_name(name: str) -> tuple[str, int] | None:
    """``(job_id, attempt)`` of a Gigawatt placement group name, None for any other name."""
    parts = name.split(":")
    if len(parts) != 3 or parts[0] != NAME_PREFIX or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """The placement group to create for one attempt."""

    name: str
    strategy: str
    bundles: tuple[dict[str, float], ...]
    selectors: tuple[dict[str, str], ...]
    #: GPUs of each rank (bundle), in placement order.
    gpus: tuple[int, ...]
    resource: str

    @property
    def world(self) -> int:
        """Number of ranks (one per bundle)."""
        return len(self.bundles)


def plan_group(spec: LaunchSpec, ray_nodes: Sequence[str] | None = None) -> GroupPlan:
    """The placement group for ``spec``, its bundles pinned to ``ray_nodes`` (the Ray node ids
    of the placement's nodes, in order; default: the placement's ids are Ray node ids);
    InvalidInput when the placement cannot be one."""
    if not valid_job_id(spec.job_id):
        raise InvalidInput(f"not usable in a Ray name: {spec.job_id!r}", "job_id")
    if spec.attempt < 0:
        raise InvalidInput(f"must be >= 0, got {spec.attempt}", "attempt")
    if not spec.placement:
        raise InvalidInput("must name at least one node", "placement")
    if not spec.gpu_type or ":" in spec.gpu_type:
        raise InvalidInput(f"not usable as a Ray resource: {spec.gpu_type!r}", "gpu_type")
    nodes = list(ray_nodes) if ray_nodes is not None else [node for node, _ in spec.placement]
    if len(nodes) != len(spec.placement):
        raise InvalidInput("one Ray node per node of the placement", "placement")
    if len(set(nodes)) != len(nodes):
        raise InvalidInput("a node appears twice; one bundle per node", "placement")
    resource = gpu_type_resource(spec.gpu_type)
    bundles: list[dict[str, float]] = []
    for node, gpus in spec.placement:
        if gpus <= 0:
            raise InvalidInput(f"node {node}: must place at least one GPU, got {gpus}", "placement")
        bundles.append({"GPU": float(gpus), resource: float(gpus)})
    return GroupPlan(
        name=group_name(spec.job_id, spec.attempt),
        strategy="STRICT_PACK" if len(bundles) == 1 else "STRICT_SPREAD",
        bundles=tuple(bundles),
        selectors=tuple({NODE_ID_LABEL: node} for node in nodes),
        gpus=tuple(gpus for _, gpus in spec.placement),
        resource=resource,
    )
