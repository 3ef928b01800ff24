"""The fleet a twin run simulates: a fleet file, N GPUs, a power budget, or a trace's nodes.

Power sizing goes through the economics engine (:func:`gigawatt.economics.capacity.gpus_for_power`)
with its defaults (facility power, its PUE), so ``simulate --power 1GW`` and ``value --power
1GW`` talk about the same number of GPUs.
"""

from __future__ import annotations

from pathlib import Path

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import FleetSpec, uniform_fleet
from gigawatt.core.units import parse_power_mw
from gigawatt.economics.capacity import gpus_for_power
from gigawatt.economics.defaults import DEFAULTS
from gigawatt.sim.reservations import load_fleet_file
from gigawatt.sim.traces import alibaba_fleet

#: Used when no fleet option is given.
DEFAULT_GPUS = 2000
DEFAULT_GPU_TYPE = "H100"


def fleet_for_power(
    power: str | float,
    gpu_type: str,
    catalogue: Catalogue,
    basis: str | None = None,
    pue: float | None = None,
) -> FleetSpec:
    """A one-site fleet of the GPUs ``power`` feeds (economics engine sizing, 8-GPU nodes)."""
    power_mw = parse_power_mw(power, "power")
    the_basis = basis or str(DEFAULTS["power_basis"][0])
    the_pue = float(DEFAULTS["pue"][0]) if pue is None else pue
    name = catalogue.get(gpu_type).name
    gpus = gpus_for_power(power_mw, name, the_basis, the_pue, catalogue=catalogue)
    if gpus < 1:
        raise InvalidInput(f"{power} feeds no whole {name} GPU", "power")
    return uniform_fleet((gpus // 8) * 8 or 8, name, catalogue, pue=the_pue)


def choose_fleet(
    catalogue: Catalogue,
    *,
    fleet_file: Path | str | None = None,
    gpus: int | None = None,
    power: str | None = None,
    gpu_type: str | None = None,
    nodes_file: Path | str | None = None,
) -> FleetSpec:
    """The fleet from exactly one of the options (``DEFAULT_GPUS`` H100 when none is given)."""
    given = [
        name
        for name, value in (
            ("--fleet", fleet_file),
            ("--gpus", gpus),
            ("--power", power),
            ("--nodes", nodes_file),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InvalidInput(f"give only one of {', '.join(given)}", "fleet")
    the_type = catalogue.get(gpu_type or DEFAULT_GPU_TYPE).name
    if fleet_file is not None:
        return load_fleet_file(fleet_file, catalogue)[0]  # its reservations: run.prepare
    if power is not None:
        return fleet_for_power(power, the_type, catalogue)
    if nodes_file is not None:
        return alibaba_fleet(nodes_file, the_type, catalogue)
    return uniform_fleet(DEFAULT_GPUS if gpus is None else gpus, the_type, catalogue)


def fleet_gpu_type(fleet: FleetSpec) -> str:
    """The GPU type of the fleet's largest node group (given to jobs that name none)."""
    groups = [g for s in fleet.sites for g in s.node_groups]
    return max(groups, key=lambda g: g.count * g.gpus_per_node).gpu_type


def fleet_summary(
    fleet: FleetSpec, catalogue: Catalogue, *, power_from_sites: bool = False
) -> dict[str, object]:
    """The fleet a result describes: GPUs, GPUs by type, the main type and IT MW.

    ``it_power_mw`` is the catalogue's all-in IT kW per GPU x GPUs / 1000 or, with
    ``power_from_sites`` (a fleet file), the sum of the sites' stated IT MW.
    """
    by_type: dict[str, int] = {}
    for site in fleet.sites:
        for g in site.node_groups:
            by_type[g.gpu_type] = by_type.get(g.gpu_type, 0) + g.count * g.gpus_per_node
    if power_from_sites:
        it_mw = sum(site.it_power_mw for site in fleet.sites)
    else:
        it_mw = sum(catalogue.get(t).it_kw_per_gpu * n for t, n in by_type.items()) / 1000.0
    main = max(sorted(by_type), key=lambda t: by_type[t])
    return {
        "gpus": sum(by_type.values()),
        "gpus_by_type": dict(sorted(by_type.items())),
        "gpu_type": main,
        "it_power_mw": it_mw,
    }
