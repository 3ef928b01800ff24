"""The fleet as the API shows it: sites, power, nodes, GPUs by type, what is allocated now."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import attempts as attempts_repo


@dataclass(frozen=True, slots=True)
class NodeView:
    """One node and the GPU indices allocated on it."""

    node_id: str
    gpu_type: str
    gpus: int
    allocated_indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GpuTypeView:
    """GPUs of one type at a site."""

    gpu_type: str
    total: int
    allocated: int
    kw_per_gpu: float


@dataclass(frozen=True, slots=True)
class SiteView:
    """A site: power budget and use, GPUs, nodes."""

    name: str
    it_power_mw: float
    pue: float
    power_in_use_kw: float
    gpus_total: int
    gpus_allocated: int
    gpu_types: tuple[GpuTypeView, ...]
    nodes: tuple[NodeView, ...]


@dataclass(frozen=True, slots=True)
class FleetView:
    """The whole fleet now."""

    gpus_total: int
    gpus_allocated: int
    allocated_by_tier: dict[str, int]
    sites: tuple[SiteView, ...]


def fleet_view(platform: Platform, with_nodes: bool = True) -> FleetView:
    """Read the allocation table and lay it over the current fleet (GPUs allocated on a node
    that has just left the fleet are counted only in ``allocated_by_tier``)."""
    with transaction(platform.sessions) as s:
        rows = attempts_repo.allocations(s)
    taken: dict[str, list[int]] = defaultdict(list)
    by_tier: dict[str, int] = defaultdict(int)
    for row in rows:
        taken[row.node_id].append(row.gpu_index)
        by_tier[row.tier] += 1
    sites: list[SiteView] = []
    fleet = platform.state  # the file's fleet, or the nodes the backend discovered
    for site in fleet.sites.values():
        nodes = [n for n in fleet.nodes.values() if n.site == site.name]
        types: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for node in nodes:
            types[node.gpu_type][0] += node.gpus
            types[node.gpu_type][1] += len(taken.get(node.node_id, ()))
        type_views = tuple(
            GpuTypeView(t, total, used, platform.kw_per_gpu(t))
            for t, (total, used) in sorted(types.items())
        )
        node_views = tuple(
            NodeView(n.node_id, n.gpu_type, n.gpus, tuple(sorted(taken.get(n.node_id, ()))))
            for n in nodes
        )
        sites.append(
            SiteView(
                name=site.name,
                it_power_mw=site.it_power_mw,
                pue=site.pue,
                power_in_use_kw=sum(t.allocated * t.kw_per_gpu for t in type_views),
                gpus_total=sum(t.total for t in type_views),
                gpus_allocated=sum(t.allocated for t in type_views),
                gpu_types=type_views,
                nodes=node_views if with_nodes else (),
            )
        )
    return FleetView(
        gpus_total=sum(x.gpus_total for x in sites),
        gpus_allocated=sum(x.gpus_allocated for x in sites),
        allocated_by_tier=dict(sorted(by_tier.items())),
        sites=tuple(sites),
    )
