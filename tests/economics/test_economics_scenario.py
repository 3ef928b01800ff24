"""Scenario validation, YAML layers with sources, capacity sizing and simulation overrides."""

from __future__ import annotations

from typing import Any

import pytest

from gigawatt.core.errors import InvalidInput
from gigawatt.economics import Scenario, build_scenario, evaluate, gpus_for_power
from gigawatt.economics.defaults import ALLOWED, DEFAULTS
from gigawatt.economics.presets import file_layers, merge_layers, parse_layer, scenario_from_yaml
from gigawatt.economics.simresult import sim_layer


@pytest.mark.parametrize(
    ("data", "field", "allowed"),
    [
        ({"power_mw": 0}, "power_mw", "greater than 0"),
        ({"power_mw": -5}, "power_mw", "greater than 0"),
        ({"power_mw": "1GWW"}, "power_mw", "kW, MW or GW"),
        ({"pue": 0.95}, "pue", ">= 1"),
        ({"utilization": 1.2}, "utilization", "[0, 1]"),
        ({"utilization": -0.1}, "utilization", "[0, 1]"),
        ({"internal_share": 1.01}, "internal_share", "[0, 1]"),
        ({"tax_rate": 2}, "tax_rate", "[0, 1]"),
        ({"gpu": "X100"}, "gpu", "H100"),
        ({"gpu_mix": {"H100": 0.5, "Q1": 0.5}}, "gpu_mix", "GB200"),
        ({"gpu_mix": {"H100": 0.5}}, "gpu_mix", "adding up to 1"),
        ({"tier_mix": {"reserved": 0.5, "spot": 0.6}}, "tier_mix", "adding up to 1"),
        ({"tier_mix": {"internal": 1.0}}, "tier_mix", "reserved"),
        ({"sales_mix": {"rent": 1.0}}, "sales_mix", "gpu_hours"),
        ({"power_basis": "grid"}, "power_basis", "facility or it"),
        ({"cost_basis": "partial"}, "cost_basis", "incremental or full"),
        ({"life_years": 0}, "life_years", "(0, 50]"),
        ({"kw_per_gpu": 0}, "kw_per_gpu", "> 0"),
        ({"utilization_ramp": [0.5, 1.5]}, "utilization_ramp", "[0, 1]"),
        ({"ranges": {"bogus": [1, 2]}}, "ranges", "known inputs"),
        ({"ranges": {"pue": [1.5, 1.2]}}, "ranges", "low <= high"),
        ({"uncertainty": {"pue": {"dist": "normal"}}}, "uncertainty.pue", "sd"),
        ({"uncertainty": {"pue": {"dist": "beta"}}}, "uncertainty.pue.dist", "uniform"),
        ({"pue": float("nan")}, "pue", ">= 1"),
        ({"unknown_key": 1}, "scenario", "allowed keys"),
    ],
)
def test_bad_values_name_the_field_and_range(
    data: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        build_scenario(data)
    message = str(info.value)
    assert info.value.field == field
    assert message.startswith(f"{field}:")
    assert allowed in message
    assert "\n" not in message


def test_scenario_is_frozen_and_strict() -> None:
    s = Scenario()
    with pytest.raises(Exception, match="frozen"):
        s.pue = 2.0  # type: ignore[misc]
    with pytest.raises(Exception, match="Extra inputs"):
        Scenario(colour="red")  # type: ignore[call-arg]


def test_every_default_is_documented_with_a_source_and_range() -> None:
    fields = set(Scenario.model_fields) - {"name", "description", "sources"}
    assert fields <= set(DEFAULTS)
    assert fields <= set(ALLOWED)
    assert all(source for _, source in DEFAULTS.values())
    s = Scenario()
    for name, (value, _) in DEFAULTS.items():
        if value is not None and name in fields and not hasattr(value, "items"):
            assert getattr(s, name) == value, name


def test_power_accepts_units() -> None:
    assert Scenario(power_mw="1.5GW").power_mw == 1500.0
    assert Scenario(power_mw="250MW").power_mw == 250.0
    assert Scenario(power_mw="800kW").power_mw == pytest.approx(0.8)


def test_gpu_names_are_case_insensitive() -> None:
    assert Scenario(gpu="gb200").gpu == "GB200"


def test_yaml_values_carry_sources_and_nested_sources() -> None:
    text = """
pue: {value: 1.1, source: "new builds"}
utilization: 0.9
tier_prices:
  reserved: {value: 5.0, source: "contract"}
"""
    s = scenario_from_yaml(text, "scenario file x.yaml")
    assert s.pue == 1.1
    assert s.source_of("pue") == "new builds"
    assert s.source_of("utilization") == "scenario file x.yaml"
    assert s.sources["tier_prices.reserved"] == "contract"
    e = evaluate(s)
    assert e.assumptions["price_per_gpu_hour.reserved"] == {"value": 5.0, "source": "contract"}
    assert e.assumptions["utilization"]["source"] == "scenario file x.yaml"


def test_yaml_extends_a_preset_and_later_layers_win() -> None:
    layers = file_layers("extends: jpm-meta-2026\nutilization: 0.9\n", "f.yaml")
    s = build_scenario(merge_layers(layers))
    assert s.name == "jpm-meta-2026"
    assert s.utilization == 0.9
    assert s.tax_rate == 0.13
    assert s.source_of("utilization") == "f.yaml"
    assert "Meta" in s.source_of("tax_rate")


def test_replacing_a_mix_drops_its_stale_nested_sources() -> None:
    first = parse_layer({"tier_mix": {"reserved": {"value": 1.0, "source": "old"}}}, "a")
    second = parse_layer({"tier_mix": {"spot": 1.0}}, "b")
    data = merge_layers([first, second])
    assert data["tier_mix"] == {"spot": 1.0}
    assert "tier_mix.reserved" not in data["sources"]


@pytest.mark.parametrize(
    "text",
    ["pue: [1.1\n", "- a\n- b\n", "pue: {value: 1.1, src: x}\n", "extends: nope\n"],
)
def test_malformed_yaml_is_one_line_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        scenario_from_yaml(text, "bad.yaml")
    assert "\n" not in str(info.value)


def test_with_values_records_the_source() -> None:
    s = Scenario().with_values({"pue": 1.4}, "what-if")
    assert s.pue == 1.4 and s.source_of("pue") == "what-if"
    with pytest.raises(InvalidInput, match="pue"):
        Scenario().with_values({"pue": 0.5}, "what-if")


def test_gpus_for_power_sizes_capacity() -> None:
    assert gpus_for_power(100, "H100", kw_per_gpu=1.0) == 100_000
    assert gpus_for_power(1000, "GB200") == 500_000
    assert gpus_for_power(1000, "GB200", basis="facility", pue=1.25) == 400_000
    assert gpus_for_power(1.4, "H100") == 1000
    assert gpus_for_power(1.3999, "H100") == 999
    with pytest.raises(InvalidInput, match="gpu"):
        gpus_for_power(100, "nope")
    with pytest.raises(InvalidInput, match="pue"):
        gpus_for_power(100, "H100", basis="facility", pue=0.8)
    with pytest.raises(InvalidInput, match="power_basis"):
        gpus_for_power(100, "H100", basis="grid")


SIM = {
    "utilization": 0.9,
    "gpu_hours_by_tier": {"internal": 300.0, "reserved": 490.0, "on_demand": 140.0, "spot": 70.0},
    "revenue_usd_by_tier": {"internal": 0.0, "reserved": 2450.0, "on_demand": 700.0},
}


def test_sim_result_maps_onto_the_scenario() -> None:
    layer = sim_layer(SIM, "run.json")
    v = layer.values
    assert v["utilization"] == 0.9
    assert v["internal_share"] == pytest.approx(0.3)
    assert v["tier_mix"] == pytest.approx({"reserved": 0.7, "on_demand": 0.2, "spot": 0.1})
    assert v["tier_prices"] == pytest.approx({"reserved": 5.0, "on_demand": 5.0})
    assert layer.sources["utilization"] == "simulation result run.json"


def test_sim_hours_are_reproduced_by_the_model() -> None:
    """The twin's internal/external split of used hours comes back out of the model."""
    data = merge_layers(
        [parse_layer({"power_mw": 100, "power_basis": "it"}, "t"), sim_layer(SIM, "run.json")]
    )
    e = evaluate(build_scenario(data))
    used = e["gpus"] * 8760 * 0.9
    assert e["internal_gpu_hours"] == pytest.approx(used * 0.3)
    assert e["gpu_hours_billed"] == pytest.approx(used * 0.7)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([1, 2], "from_sim"),
        ({}, "from_sim"),
        ({"utilization": "high"}, "from_sim.utilization"),
        ({"gpu_hours_by_tier": {"gold": 1.0}}, "from_sim.gpu_hours_by_tier"),
        ({"gpu_hours_by_tier": {"spot": -1.0}}, "from_sim.gpu_hours_by_tier.spot"),
        ({"gpu_hours_by_tier": [1, 2]}, "from_sim.gpu_hours_by_tier"),
    ],
)
def test_bad_sim_results(doc: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        sim_layer(doc, "x.json")
    assert info.value.field == field
