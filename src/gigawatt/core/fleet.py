"""Fleet description: sites with an IT power budget and PUE, node groups of one GPU type.

A fleet file is YAML::

    sites:
      - name: local
        it_power_mw: 0.05
        pue: 1.2
        node_groups:
          - {name: h100, count: 4, gpu_type: H100, gpus_per_node: 8}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class NodeGroup(BaseModel):
    """``count`` identical nodes of ``gpus_per_node`` GPUs of ``gpu_type``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    count: int = Field(gt=0, le=10_000_000)
    gpu_type: str
    gpus_per_node: int = Field(gt=0, le=1024)


class Site(BaseModel):
    """A data-centre site: its IT power budget caps the power of allocated GPUs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    it_power_mw: float = Field(gt=0)
    pue: float = Field(ge=1.0, le=5.0, default=1.2)
    node_groups: tuple[NodeGroup, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_groups(self) -> Site:
        names = [g.name for g in self.node_groups]
        if len(names) != len(set(names)):
            raise ValueError(f"site {self.name}: node group names must be unique")
        return self


class FleetSpec(BaseModel):
    """The whole fleet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: tuple[Site, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_sites(self) -> FleetSpec:
        names = [s.name for s in self.sites]
        if len(names) != len(set(names)):
            raise ValueError("site names must be unique")
        return self

    def validate_against(self, catalogue: Catalogue) -> None:
        """Raise :class:`InvalidInput` if a node group names a GPU type the catalogue lacks."""
        for site in self.sites:
            for group in site.node_groups:
                if group.gpu_type not in catalogue:
                    raise InvalidInput(
                        f"unknown GPU type {group.gpu_type!r} in site {site.name}; "
                        f"known: {', '.join(catalogue.names)}",
                        "fleet",
                    )

    def nodes(self) -> list[NodeSpec]:
        """Every node, with a stable id ``site/group-NNNN``."""
        out: list[NodeSpec] = []
        for site in self.sites:
            for group in site.node_groups:
                width = max(4, len(str(group.count - 1)))
                out.extend(
                    NodeSpec(
                        node_id=f"{site.name}/{group.name}-{i:0{width}d}",
                        site=site.name,
                        gpu_type=group.gpu_type,
                        gpus=group.gpus_per_node,
                    )
                    for i in range(group.count)
                )
        return out

    def total_gpus(self) -> int:
        """GPUs in the whole fleet."""
        return sum(g.count * g.gpus_per_node for s in self.sites for g in s.node_groups)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of the fleet (a plain value; millions of these exist in the twin)."""

    node_id: str
    site: str
    gpu_type: str
    gpus: int


def parse_fleet(data: object, catalogue: Catalogue, where: str = "fleet") -> FleetSpec:
    """Validate a fleet structure (as read from YAML or JSON)."""
    try:
        fleet = FleetSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{loc}: {first['msg']}", where) from exc
    fleet.validate_against(catalogue)
    return fleet


def load_fleet(path: Path | str, catalogue: Catalogue) -> FleetSpec:
    """Read and validate a fleet YAML file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", "fleet") from exc
    return parse_fleet(data, catalogue, where=str(path))


def default_fleet() -> FleetSpec:
    """The documented default: one site ``local`` with 4 nodes x 8 H100 and a 50 kW IT budget."""
    return FleetSpec(
        sites=(
            Site(
                name="local",
                it_power_mw=0.05,
                pue=1.2,
                node_groups=(NodeGroup(name="h100", count=4, gpu_type="H100", gpus_per_node=8),),
            ),
        )
    )


def uniform_fleet(
    gpus: int, gpu_type: str, catalogue: Catalogue, gpus_per_node: int = 8, pue: float = 1.2
) -> FleetSpec:
    """A one-site fleet of ``gpus`` GPUs (rounded up to whole nodes) with power for all of them."""
    if gpus <= 0:
        raise InvalidInput(f"must be a positive number of GPUs, got {gpus}", "gpus")
    spec = catalogue.get(gpu_type)
    nodes = math.ceil(gpus / gpus_per_node)
    power_mw = nodes * gpus_per_node * spec.it_kw_per_gpu / 1000.0
    group = NodeGroup(
        name=spec.name.lower(), count=nodes, gpu_type=spec.name, gpus_per_node=gpus_per_node
    )
    return FleetSpec(
        sites=(Site(name="site", it_power_mw=power_mw * 1.000001, pue=pue, node_groups=(group,)),)
    )
