"""Reservations declared in workload and fleet files reach the scheduler: reserved work within its
tenant's reservation preempts spot, so ``reserved`` is more than a rank in the twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.scheduling.model import Reservation
from gigawatt.sim.run import SimOptions, prepare, run

#: Long 8-GPU spot jobs fill the fleet first; 8-GPU reserved jobs of one tenant arrive later.
WORKLOAD: dict[str, Any] = {
    "name": "contracts",
    "days": 0.5,
    "load": 1.2,
    "classes": [
        {"name": "spot", "tier": "spot", "share": 0.6, "sizes": {8: 1.0},
         "durations": {"fixed_s": 20_000}, "diurnal": "flat"},
        {"name": "contract", "tier": "reserved", "share": 0.4, "sizes": {8: 1.0},
         "durations": {"fixed_s": 3_600}, "diurnal": "flat"},
    ],
}  # fmt: skip
FLEET = {"sites": [{"name": "dc", "it_power_mw": 1.0,
                    "node_groups": [{"name": "h", "count": 8, "gpu_type": "H100",
                                     "gpus_per_node": 8}]}]}  # fmt: skip


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run(catalogue: Catalogue, tmp_path: Path, workload: dict[str, Any],
         fleet: dict[str, Any] = FLEET) -> dict[str, Any]:  # fmt: skip
    options = SimOptions(
        workload=_write(tmp_path / "w.yaml", workload),
        fleet=_write(tmp_path / "f.yaml", fleet),
        warmup="none",
    )
    return dict(run(options, catalogue).summary)


def test_reserved_work_within_a_reservation_preempts_spot(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    plain = _run(catalogue, tmp_path, WORKLOAD)
    classes = [dict(c) for c in WORKLOAD["classes"]]
    classes[1]["reserved_gpus"] = 32
    reserved = _run(catalogue, tmp_path, {**WORKLOAD, "classes": classes})
    assert plain["preemptions"] == 0  # without a reservation reserved is only a rank
    assert reserved["preemptions"] > 0
    wait = {k: s["by_tier"]["reserved"]["queue_s"]["mean"] for k, s in
            (("plain", plain), ("reserved", reserved))}  # fmt: skip
    assert wait["reserved"] < 0.5 * wait["plain"]
    # the same reservation declared in the fleet file instead
    in_fleet = _run(catalogue, tmp_path, WORKLOAD,
                    {**FLEET, "reservations": [{"tenant": "contract", "gpus": 32}]})  # fmt: skip
    assert in_fleet["preemptions"] == reserved["preemptions"]
    assert in_fleet["by_tier"] == reserved["by_tier"]


def test_declared_reservations_are_resolved(catalogue: Catalogue, tmp_path: Path) -> None:
    classes = [dict(c) for c in WORKLOAD["classes"]]
    classes[1].update(reserved_gpus=16, tenants=2)
    options = SimOptions(
        workload=_write(tmp_path / "w.yaml", {**WORKLOAD, "classes": classes,
                        "reservations": [{"tenant": "spot", "gpus": 8, "gpu_type": "H100"}]}),
        fleet=_write(tmp_path / "f.yaml", FLEET),
    )  # fmt: skip
    assert prepare(options, catalogue).reservations == (
        Reservation("spot", "H100", 8),
        Reservation("contract-0", "H100", 16),
        Reservation("contract-1", "H100", 16),
    )


def test_bad_reservations_are_refused(catalogue: Catalogue, tmp_path: Path) -> None:
    classes = [dict(c) for c in WORKLOAD["classes"]]
    classes[0]["reserved_gpus"] = 8
    with pytest.raises(InvalidInput, match="reserved_gpus applies to the reserved tier"):
        _run(catalogue, tmp_path, {**WORKLOAD, "classes": classes})
    with pytest.raises(InvalidInput, match=r"reservations\.0\.gpus"):
        _run(catalogue, tmp_path, WORKLOAD,
             {**FLEET, "reservations": [{"tenant": "x", "gpus": 0}]})  # fmt: skip
