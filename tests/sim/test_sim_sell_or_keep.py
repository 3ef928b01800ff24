"""What selling costs the internal wheel: the shipped sweep over ``external_cap_gpus``.

The example (``gigawatt/sim/sweeps/sell-or-keep.yaml``) runs one workload where internal and
external demand together exceed the fleet at five external caps. As the cap rises, external
revenue does not fall, internal GPU-hours served do not rise and internal queueing does not fall.
Scenarios have their own warm-up, so their measured windows differ by a few minutes: the trends
are compared per measured hour. Tolerances are those the scheduler's discreteness needs at the
top caps, where the cap stops binding (1,500 and 2,000 give identical runs with this seed).
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gigawatt.core.catalogue import default_catalogue
from gigawatt.sim.metrics import STABLE_KEYS
from gigawatt.sim.sweep import load_sweep, run_sweep, scenario_options
from gigawatt.sim.tables import print_sweep

CAPS = [0, 500, 1000, 1500, 2000]
FIGURES = (
    "external_revenue_usd",
    "external_gpu_hours",
    "internal_gpu_hours",
    "internal_demand_gpu_hours",
    "internal_mean_queue_s",
    "internal_p95_queue_s",
    "measured_s",
    "warmup_s",
)


@pytest.fixture(scope="module")
def sweep_file() -> Iterator[Path]:
    """The packaged example sweep."""
    ref = resources.files("gigawatt.sim").joinpath("sweeps").joinpath("sell-or-keep.yaml")
    with resources.as_file(ref) as path:
        yield path


@pytest.fixture(scope="module")
def scenarios(sweep_file: Path) -> list[dict[str, Any]]:
    """The sweep's results as JSON values (``gigawatt simulate --sweep FILE --format json``)."""
    results = run_sweep(scenario_options(load_sweep(sweep_file), sweep_file.parent))
    doc = json.loads(json.dumps(results, allow_nan=False))
    assert isinstance(doc, list)
    return doc


def test_one_scenario_per_cap_with_sane_keys(scenarios: list[dict[str, Any]]) -> None:
    assert [s["name"] for s in scenarios] == [f"external_cap_gpus={c}" for c in CAPS]
    assert [s["external_cap_gpus"] for s in scenarios] == CAPS
    kw = default_catalogue().get("H100").it_kw_per_gpu
    for s in scenarios:
        assert set(STABLE_KEYS) <= set(s)
        for key in FIGURES:
            assert isinstance(s[key], float) and s[key] >= 0, key
        assert 0 < s["warmup_s"] < 86_400 and s["measured_s"] + s["warmup_s"] == 2 * 86_400
        assert s["fleet"] == {
            "gpus": 2000,
            "gpus_by_type": {"H100": 2000},
            "gpu_type": "H100",
            "it_power_mw": pytest.approx(2000 * kw / 1000),
        }
        ext = sum(s["gpu_hours_by_tier"][t] for t in ("reserved", "on_demand", "spot"))
        assert s["external_gpu_hours"] == pytest.approx(ext)
        assert s["external_revenue_usd"] == pytest.approx(sum(s["revenue_usd_by_tier"].values()))
        assert s["internal_gpu_hours"] == s["gpu_hours_by_tier"]["internal"]
        # the cap holds: external work never averages more GPUs than the cap
        assert s["external_gpu_hours"] <= s["external_cap_gpus"] * s["measured_s"] / 3600 + 1e-6
        assert s["internal_p95_queue_s"] >= s["internal_mean_queue_s"] * 0.5


def _per_hour(s: dict[str, Any], key: str) -> float:
    return float(s[key]) / (float(s["measured_s"]) / 3600)


def test_selling_more_earns_more_and_costs_the_internal_wheel(
    scenarios: list[dict[str, Any]],
) -> None:
    assert scenarios[0]["external_revenue_usd"] == 0 == scenarios[0]["external_gpu_hours"]
    for low, high in itertools.pairwise(scenarios):
        assert _per_hour(high, "external_revenue_usd") >= 0.99 * _per_hour(
            low, "external_revenue_usd"
        )
        assert _per_hour(high, "internal_gpu_hours") <= 1.01 * _per_hour(low, "internal_gpu_hours")
        for key in ("internal_mean_queue_s", "internal_p95_queue_s"):
            assert high[key] >= 0.95 * low[key], (key, low["name"], high["name"])
    # and the effect is material across the sweep, not noise
    none, most = scenarios[0], scenarios[3]
    some = scenarios[1]
    assert _per_hour(most, "external_revenue_usd") > 1.5 * _per_hour(some, "external_revenue_usd")
    assert _per_hour(most, "internal_gpu_hours") < 0.95 * _per_hour(none, "internal_gpu_hours")
    assert most["internal_mean_queue_s"] > 2 * none["internal_mean_queue_s"]


def test_the_sweep_table_shows_the_sell_or_keep_columns(scenarios: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    print_sweep("Sweep: sell-or-keep.yaml", scenarios, Console(file=out, width=250))
    text = out.getvalue()
    for head in ("ext. cap GPUs", "ext. revenue USD", "int. GPU-h", "int. P95 s"):
        assert head in text
    assert "external_cap_gpus=1500" in text and "1,500" in text


def test_sweep_axis_expands_each_scenario(tmp_path: Path, sweep_file: Path) -> None:
    workload = sweep_file.parent.parent / "workloads" / "sell-or-keep.yaml"
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"base: {{workload: {workload}, gpus: 64, warmup: none}}\n"
        "scenarios:\n  - {name: a, seed: 1}\n  - {seed: 2, warmup: 3600}\n"
        "sweep: {external_cap_gpus: [0, 32]}\n",
        encoding="utf-8",
    )
    options = scenario_options(load_sweep(path), tmp_path)
    names = [name for name, _ in options]
    assert names == [
        "a/external_cap_gpus=0",
        "a/external_cap_gpus=32",
        "scenario-2/external_cap_gpus=0",
        "scenario-2/external_cap_gpus=32",
    ]
    assert [o.external_cap_gpus for _, o in options] == [0, 32, 0, 32]
    assert [o.warmup for _, o in options] == ["none", "none", 3600.0, 3600.0]
    assert [o.seed for _, o in options] == [1, 1, 2, 2]
    assert options[0][1].scheduling_policy().external_cap_gpus == 0
