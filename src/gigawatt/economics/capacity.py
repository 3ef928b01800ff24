"""Capacity sizing: how many whole GPUs a block of power feeds (used by the digital twin)."""

from __future__ import annotations

from typing import Any

from gigawatt.core.catalogue import Catalogue
from gigawatt.economics.model import annual
from gigawatt.economics.resolve import resolve
from gigawatt.economics.scenario import build_scenario


def gpus_for_power(
    power_mw: float,
    gpu_type: str,
    basis: str = "it",
    pue: float = 1.0,
    kw_per_gpu: float | None = None,
    catalogue: Catalogue | None = None,
) -> int:
    """Whole GPUs of ``gpu_type`` that ``power_mw`` feeds (capacity sizing for the twin).

    ``basis="facility"`` divides by ``pue`` first; ``kw_per_gpu`` overrides the catalogue's
    all-in IT kW per GPU. Raises ``InvalidInput`` for bad power, basis, PUE or GPU type.
    """
    data: dict[str, Any] = {"power_mw": power_mw, "power_basis": basis, "pue": pue}
    data["gpu"] = gpu_type
    if kw_per_gpu is not None:
        data["kw_per_gpu"] = kw_per_gpu
    r = resolve(build_scenario(data, catalogue), catalogue)
    return int(annual(r.inputs, r.structure)["gpus"])
