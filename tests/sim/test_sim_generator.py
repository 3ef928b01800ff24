"""Workload generator and workload files: calibration, load, scaling, diurnal, determinism."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import uniform_fleet
from gigawatt.core.tiers import Tier
from gigawatt.sim import calibration
from gigawatt.sim.generator import generate
from gigawatt.sim.workload import TIER_CODE
from gigawatt.sim.workload_file import load_workload, parse_workload


def _spec(**cls: Any) -> dict[str, Any]:
    base = {"name": "c", "tier": "internal", "share": 1.0}
    return {"name": "t", "days": 2, "load": 0.8, "classes": [{**base, **cls}]}


def test_shipped_calibration_matches_the_traces(traces: Path) -> None:
    assert calibration.calibrate(traces) == dict(calibration.shipped())


def test_sizes_and_durations_follow_philly(catalogue: Catalogue) -> None:
    fleet = uniform_fleet(4096, "H100", catalogue)
    w = generate(parse_workload(_spec(diurnal="flat")), fleet, catalogue, seed=1, days=20)
    assert len(w) > 10_000
    assert float((w.gpus == 1).mean()) == pytest.approx(0.932, abs=0.01)
    assert float(np.median(w.duration_s)) == pytest.approx(1144, rel=0.08)
    assert set(np.unique(w.gpus)) <= {1, 2, 4, 8, 16, 24, 32, 64, 128}  # 12 -> 16 (whole nodes)


def test_offered_load_and_scaling_with_fleet(catalogue: Catalogue) -> None:
    spec = parse_workload(
        _spec(durations={"lognormal": {"median_s": 3600, "sigma": 0.5}}, sizes={1: 0.5, 8: 0.5})
    )
    small = generate(spec, uniform_fleet(1000, "H100", catalogue), catalogue, seed=2)
    big = generate(spec, uniform_fleet(4000, "H100", catalogue), catalogue, seed=2)
    for w, gpus in ((small, 1000), (big, 4000)):
        offered = w.offered_gpu_seconds / (gpus * 2 * 86400)
        assert offered == pytest.approx(0.8, rel=0.05)
    assert len(big) / len(small) == pytest.approx(4.0, rel=0.05)


def test_load_override_and_tier_shares(catalogue: Catalogue) -> None:
    data = {
        "name": "mix",
        "days": 3,
        "classes": [
            {
                "name": "a",
                "tier": "internal",
                "share": 3,
                "sizes": {1: 1.0},
                "durations": {"fixed_s": 600},
                "diurnal": "flat",
            },
            {
                "name": "b",
                "tier": "spot",
                "share": 1,
                "sizes": {1: 1.0},
                "durations": {"fixed_s": 600},
                "diurnal": "flat",
                "tenants": 5,
            },
        ],
    }
    fleet = uniform_fleet(800, "H100", catalogue)
    w = generate(parse_workload(data), fleet, catalogue, load=0.5)
    assert w.offered_gpu_seconds / (800 * 3 * 86400) == pytest.approx(0.5, rel=0.03)
    spot = float((w.tier == TIER_CODE[Tier.SPOT]).mean())
    assert spot == pytest.approx(0.25, abs=0.02)
    assert {w.tenants[t] for t in np.unique(w.tenant)} == {"a", *(f"b-{k}" for k in range(5))}


def test_diurnal_pattern_shapes_arrivals(catalogue: Catalogue) -> None:
    weights = [0.2] * 12 + [1.8] * 12
    spec = parse_workload(_spec(diurnal=weights, durations={"fixed_s": 3600}, sizes={1: 1.0}))
    w = generate(spec, uniform_fleet(512, "H100", catalogue), catalogue, days=10)
    hours = (w.submit_s // 3600 % 24).astype(int)
    night, day = int((hours < 12).sum()), int((hours >= 12).sum())
    assert day / night == pytest.approx(9.0, rel=0.15)


def test_same_seed_same_jobs(catalogue: Catalogue) -> None:
    spec = parse_workload(_spec())
    fleet = uniform_fleet(256, "H100", catalogue)
    a, b, c = (generate(spec, fleet, catalogue, seed=s) for s in (4, 4, 5))
    assert np.array_equal(a.submit_s, b.submit_s) and np.array_equal(a.gpus, b.gpus)
    assert len(a) != len(c) or not np.array_equal(a.submit_s, c.submit_s)


def test_inference_class_becomes_replica_jobs(catalogue: Catalogue) -> None:
    data = _spec(kind="inference", tier="on_demand", requests="azure_code", diurnal="flat")
    fleet = uniform_fleet(2000, "H100", catalogue)
    w = generate(parse_workload(data), fleet, catalogue)
    assert len(w) > 0 and np.all(w.gpus == 8)
    assert np.all(w.tier == TIER_CODE[Tier.ON_DEMAND])
    # replicas round demand up: GPUs held >= the demand's share, and not far above it
    assert 0.8 <= w.offered_gpu_seconds / (2000 * 2 * 86400) < 0.9


def test_shipped_example_workloads_parse() -> None:
    folder = resources.files("gigawatt.sim").joinpath("workloads")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
    assert names
    for name in names:
        with resources.as_file(folder.joinpath(name)) as path:
            assert load_workload(path).classes


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (None, "empty workload"),
        ({"name": "x", "classes": []}, "classes"),
        (_spec(jobs_per_hour=5), "give exactly one of"),
        ({"classes": [{"name": "c", "tier": "internal"}]}, "give exactly one of"),
        (_spec(tier="gold"), "classes.0.tier"),
        (_spec(sizes={0: 1.0}), "sizes need GPUs >= 1"),
        (_spec(diurnal=[1.0, 2.0]), "24 weights"),
        (_spec(durations={"fixed_s": -1}), "classes.0.durations"),
        ({**_spec(), "surprise": 1}, "surprise"),
    ],
)
def test_bad_workload_files_name_the_problem(data: Any, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_workload(data)
    assert needle in str(info.value)


def test_unreadable_workload_file(tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text("classes: [\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot read"):
        load_workload(bad)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_workload(tmp_path / "missing.yaml")
