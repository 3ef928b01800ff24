"""Presets: every number sourced, and jpm-meta-2026 reproduces JPMorgan's answer."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from gigawatt.economics import evaluate, load_preset, preset_names
from gigawatt.economics.presets import NESTED


def _raw(name: str) -> dict[str, Any]:
    path = resources.files("gigawatt.economics").joinpath(f"presets/{name}.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_three_presets_exist() -> None:
    assert {"jpm-meta-2026", "hopper-2026", "blackwell-2026"} <= set(preset_names())


@pytest.mark.parametrize("name", ["jpm-meta-2026", "hopper-2026", "blackwell-2026"])
def test_every_number_has_a_source(name: str) -> None:
    """Each value is ``{value, source}`` (a mapping may source each entry or itself)."""
    for key, raw in _raw(name).items():
        if key in ("description", "name", "uncertainty"):
            continue
        if isinstance(raw, dict) and "value" in raw:
            assert str(raw.get("source", "")).strip(), f"{name}: {key} has no source"
            continue
        assert key in NESTED and isinstance(raw, dict), f"{name}: {key} is not sourced"
        for inner, entry in raw.items():
            assert isinstance(entry, dict) and str(entry.get("source", "")).strip(), (
                f"{name}: {key}.{inner} has no source"
            )
    for inner, dist in (_raw(name).get("uncertainty") or {}).items():
        assert str(dist.get("source", "")).strip(), f"{name}: uncertainty.{inner} has no source"


@pytest.mark.parametrize("name", ["jpm-meta-2026", "hopper-2026", "blackwell-2026"])
def test_presets_evaluate_with_preset_sources(name: str) -> None:
    e = evaluate(load_preset(name))
    assert e["revenue_usd"] > 0 and e["gpus"] > 0
    raw = _raw(name)
    for key, item in e.assumptions.items():
        if key in raw and isinstance(raw[key], dict) and "source" in raw[key]:
            assert item["source"] == raw[key]["source"], key
        assert item["source"], key


def test_jpm_meta_reproduces_the_target() -> None:
    """About $20B of revenue for 1 GW and 'several dollars' of EPS on the incremental basis."""
    s = load_preset("jpm-meta-2026")
    assert s.cost_basis == "incremental"
    assert s.diluted_shares == pytest.approx(60.46e9 / 23.49, rel=0.01)
    assert s.tax_rate == 0.13
    e = evaluate(s)
    assert e["gpus"] == 500_000  # 1 GW / 2.0 kW; Nvidia: 10 GW is 4-5 million GPUs
    assert 18e9 <= e["revenue_usd"] <= 22e9
    assert e["revenue_usd"] == pytest.approx(500_000 * 8760 * 0.85 * 5.30)
    assert 3.0 <= e["eps_uplift_usd"] <= 6.0
    assert e["depreciation_usd"] == 0.0


def test_jpm_meta_on_the_full_basis_is_much_less() -> None:
    s = load_preset("jpm-meta-2026")
    full = evaluate(s.with_values({"cost_basis": "full"}, "test"))
    assert full["depreciation_usd"] == pytest.approx(50e9 / 5.5)
    assert 0 < full["eps_uplift_usd"] < evaluate(s)["eps_uplift_usd"] - 2.0


def test_generation_presets_compare_sensibly() -> None:
    hopper = evaluate(load_preset("hopper-2026"))
    blackwell = evaluate(load_preset("blackwell-2026"))
    assert set(hopper.gpus_by_type) == {"H100", "H200"}
    assert set(blackwell.gpus_by_type) == {"GB200", "B200"}
    # Blackwell draws more power per GPU but earns more per GPU-hour and per MW.
    assert blackwell["gpus"] < hopper["gpus"]
    assert blackwell["revenue_usd"] > hopper["revenue_usd"]
