"""Alibaba GPU cluster trace v2023 (``openb``): pods, and GPU nodes to build a fleet from.

Pods: ``name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,
deletion_time,scheduled_time`` (seconds). Pods without GPUs are counted (``meta``) and skipped.
A pod sharing a GPU (``gpu_milli`` < 1000) takes one whole GPU: the scheduler allocates
whole GPUs. Run time is ``deletion_time - scheduled_time`` (``creation_time`` for pods never
scheduled: their demand is replayed as if they had started). Quality of service maps to tiers:
``LS`` (latency-sensitive production) internal, ``Guaranteed`` reserved, ``Burstable``
on-demand, ``BE`` (best effort) spot.

Nodes: ``sn,cpu_milli,memory_mib,gpu,model``. The trace's GPU models (P100, T4, V100, G2…) are
not in the catalogue; :func:`alibaba_fleet` keeps the node shapes (GPUs per node) and gives
every GPU one catalogue type, with a site power budget that fits them all.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site
from gigawatt.core.tiers import Tier
from gigawatt.sim.traces.common import Columns, TraceError
from gigawatt.sim.workload import TIER_CODE, Workload, build_workload

POD_COLUMNS = (
    "name",
    "num_gpu",
    "gpu_milli",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
NODE_COLUMNS = ("sn", "gpu", "model")
QOS_TIER = {
    "LS": Tier.INTERNAL,
    "Guaranteed": Tier.RESERVED,
    "Burstable": Tier.ON_DEMAND,
    "BE": Tier.SPOT,
}


def load_alibaba_pods(path: Path | str) -> Workload:
    """Read the pod list; GPU pods become jobs (tenant = quality-of-service class)."""
    cols = Columns(path, POD_COLUMNS)
    gpus_all = cols.integers("num_gpu")
    created = cols.numbers("creation_time")
    started = cols.numbers("scheduled_time", allow_empty=True)
    ended = cols.numbers("deletion_time")
    begin = np.where(np.isnan(started), created, started)
    early = np.flatnonzero(ended < begin)
    if len(early):
        k = int(early[0])
        raise cols.error(k, f"deletion_time {ended[k]:g} is before start {begin[k]:g}")
    qos = cols.values["qos"]
    for k, q in enumerate(qos):
        if q not in QOS_TIER:
            raise cols.error(k, f"unknown qos {q!r} (known: {', '.join(QOS_TIER)})")
    rows = np.flatnonzero(gpus_all > 0)
    if not len(rows):
        raise TraceError(path, "no pods requesting GPUs in the trace")
    names = tuple(dict.fromkeys(qos[k] for k in rows))
    t = created[rows]
    return build_workload(
        "alibaba",
        t - t.min(),
        (ended - begin)[rows],
        gpus_all[rows],
        np.array([TIER_CODE[QOS_TIER[qos[k]]] for k in rows], dtype=np.int64),
        np.array([names.index(qos[k]) for k in rows], dtype=np.int64),
        names,
        meta={"source": str(path), "rows": len(cols), "gpu_pods": len(rows)},
    )


def alibaba_nodes(path: Path | str) -> Counter[tuple[str, int]]:
    """GPU nodes of the node list, counted by ``(model, GPUs per node)`` (CPU-only skipped)."""
    cols = Columns(path, NODE_COLUMNS)
    gpus = cols.integers("gpu").tolist()
    models = cols.values["model"]
    shapes: Counter[tuple[str, int]] = Counter(
        (m or "gpu", g) for m, g in zip(models, gpus, strict=True) if g > 0
    )
    if not shapes:
        raise TraceError(path, "no GPU nodes in the node list")
    return shapes


def alibaba_fleet(
    path: Path | str, gpu_type: str, catalogue: Catalogue, pue: float = 1.2
) -> FleetSpec:
    """A one-site fleet with the node list's GPU nodes, every GPU of catalogue type ``gpu_type``."""
    spec = catalogue.get(gpu_type)
    groups = []
    gpus = 0
    for (model, per_node), count in sorted(alibaba_nodes(path).items()):
        name = f"{model.lower()}-{per_node}".replace(" ", "-")
        groups.append(NodeGroup(name=name, count=count, gpu_type=spec.name, gpus_per_node=per_node))
        gpus += count * per_node
    power_mw = gpus * spec.it_kw_per_gpu / 1000.0 * 1.000001
    return FleetSpec(
        sites=(Site(name="alibaba", it_power_mw=power_mw, pue=pue, node_groups=tuple(groups)),)
    )
