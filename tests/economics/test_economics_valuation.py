"""The valuation layer (closed forms, the implied re-rating as an exact inverse), the Monte Carlo
over the new inputs (p_sell_beats_keep, correlated draws) and the meta strategy presets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from gigawatt.core.errors import InvalidInput
from gigawatt.economics import Scenario, build_scenario, evaluate, load_preset, monte_carlo
from gigawatt.economics.correlation import Correlation
from gigawatt.economics.sensitivity import sensitivity

BASE: dict[str, Any] = {
    "power_mw": "100MW",
    "power_basis": "it",
    "kw_per_gpu": 1.0,
    "price_per_gpu_hour": 4.0,
    "utilization": 0.8,
    "internal_value_per_gpu_hour": 3.0,
    "cost_basis": "incremental",
    "tax_rate": 0.2,
    "diluted_shares": 1e9,
    "platform_pe": 25.0,
    "cloud_pe": 15.0,
    "base_net_income": 50e9,
    "base_pe": 20.0,
    "rerating_at_full_sale": -2.0,
    "share_price": 1000.0,
}


def test_each_wheel_at_its_multiple_and_the_rerating_scaled_by_the_share_sold() -> None:
    e = evaluate(Scenario(**BASE, internal_share=0.25))
    v, seg = e.valuation, e.segments
    assert v["by_segment"]["internal"]["value_usd"] == pytest.approx(
        seg["internal"]["net_income_usd"] * 25  # type: ignore[operator]
    )
    assert v["by_segment"]["external"]["value_usd"] == pytest.approx(
        seg["external"]["net_income_usd"] * 15  # type: ignore[operator]
    )
    assert v["rerating_usd"] == pytest.approx(-2.0 * 0.75 * 50e9)
    change = v["by_segment"]["internal"]["value_usd"] + v["by_segment"]["external"]["value_usd"]
    assert v["equity_value_change_usd"] == pytest.approx(change + v["rerating_usd"])
    assert v["equity_value_usd"] == pytest.approx(50e9 * 20 + v["equity_value_change_usd"])
    assert v["price_per_share_change_usd"] == pytest.approx(v["equity_value_change_usd"] / 1e9)
    assert (
        evaluate(Scenario(**BASE, internal_share=1.0)).valuation["vs_keep_all_per_share_usd"] == 0
    )


def test_implied_rerating_inverts_the_model() -> None:
    """Price the model's own move back in: the observed move returns the re-rating used."""
    e = evaluate(Scenario(**BASE, internal_share=0.4))
    move_usd = e.valuation["vs_keep_all_per_share_usd"] * 1e9
    observed = move_usd / (1000.0 * 1e9)
    solved = evaluate(
        Scenario(
            **{**BASE, "rerating_at_full_sale": 0.0},
            internal_share=0.4,
            observed_price_move=observed,
        )
    )
    assert solved.valuation["implied_rerating"] == pytest.approx(-2.0)


def test_observed_move_needs_a_share_price() -> None:
    data = {**BASE, "share_price": None, "observed_price_move": -0.03}
    with pytest.raises(InvalidInput, match="share-price") as err:
        evaluate(build_scenario(data))
    assert err.value.field == "observed_price_move"


def test_p_sell_beats_keep_follows_the_internal_value() -> None:
    cheap = Scenario(**{**BASE, "internal_value_per_gpu_hour": 0.0, "base_net_income": 0.0})
    mc = monte_carlo(cheap, 2000, seed=1)
    assert mc.sell_beats_keep == 1.0
    dear = Scenario(**{**BASE, "internal_value_per_gpu_hour": 50.0})
    assert monte_carlo(dear, 2000, seed=1).sell_beats_keep == 0.0
    doc = monte_carlo(Scenario(**BASE, internal_share=0.5), 2000, seed=1).to_dict()
    assert 0.0 <= doc["p_sell_beats_keep"] <= 1.0
    assert (
        doc["percentiles"]["equity_value_usd"]["p5"]
        <= doc["percentiles"]["equity_value_usd"]["p95"]
    )


def test_correlated_draws_keep_their_marginals_and_their_rank_correlation() -> None:
    corr = {"inputs": ["price_per_gpu_hour", "utilization"], "matrix": [[1, 0.8], [0.8, 1]]}
    s = Scenario(
        **BASE,
        correlation=corr,
        uncertainty={
            "price_per_gpu_hour": {"dist": "uniform", "low": 3.0, "high": 5.0},
            "utilization": {"dist": "normal", "sd": 0.05},
        },
    )
    mc = monte_carlo(s, 20_000, seed=3, sell_vs_keep=False)
    revenue = mc.samples["revenue_usd"]
    # revenue = GPUs x 8,760 x util x price: with the two correlated its spread widens
    independent = monte_carlo(
        Scenario(**BASE, uncertainty=s.uncertainty), 20_000, seed=3, sell_vs_keep=False
    ).samples["revenue_usd"]
    assert revenue.std() > independent.std() * 1.1
    assert mc.to_dict()["correlated_inputs"] == ["price_per_gpu_hour", "utilization"]
    rng = np.random.default_rng(0)
    u = Correlation(**corr).uniforms(rng, 50_000)
    ranks = np.argsort(np.argsort(u, axis=0), axis=0)
    spearman = np.corrcoef(ranks.T)[0, 1]
    assert spearman == pytest.approx(6 / np.pi * np.arcsin(0.4), abs=0.02)  # Gaussian copula
    assert u.min() > 0 and u.max() < 1


@pytest.mark.parametrize(
    "matrix, message",
    [
        ([[1, 0.5], [0.4, 1]], "not symmetric"),
        ([[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]], "positive semi-definite"),
        ([[2, 0], [0, 1]], "diagonal|\\[-1, 1\\]"),
        ([[1, 0.5]], "2 x 2"),
    ],
)
def test_bad_correlation_matrices_are_refused(matrix: list[list[float]], message: str) -> None:
    n = len(matrix[0]) if len(matrix[0]) == 3 else 2
    names = ["price_per_gpu_hour", "utilization", "pue"][:n]
    with pytest.raises(ValidationError, match=message):
        Correlation(inputs=tuple(names), matrix=tuple(tuple(r) for r in matrix))
    with pytest.raises(InvalidInput) as err:
        build_scenario({**BASE, "correlation": {"inputs": names, "matrix": matrix}})
    assert err.value.field == "correlation"


def test_tornado_covers_the_new_inputs() -> None:
    s = Scenario(**BASE, internal_share=0.5, price_premium_when_scarce=0.1)
    names = {row.input.name for row in sensitivity(s, metric="equity_value_usd").rows}
    expected = {
        "internal_value_per_gpu_hour",
        "internal_value_elasticity",
        "price_premium_when_scarce",
        "platform_pe",
        "cloud_pe",
        "rerating_at_full_sale",
    }
    assert expected <= names


def test_meta_strategies_share_one_base_and_the_dual_wheel_wins() -> None:
    supplier = evaluate(load_preset("meta-infra-supplier"))
    super_app = evaluate(load_preset("meta-super-app"))
    dual = evaluate(load_preset("meta-dual-wheel"))
    assert supplier.resolved.inputs["internal_share"] == 0.0
    assert super_app.resolved.inputs["internal_share"] == 1.0
    assert 0.0 < dual.resolved.inputs["internal_share"] < 1.0
    best = dual.valuation["equity_value_usd"]
    assert best >= supplier.valuation["equity_value_usd"]
    assert best >= super_app.valuation["equity_value_usd"]
    for e in (supplier, super_app, dual):
        assert e.resolved.inputs["platform_pe"] == 26.4  # the shared base
        for item in e.assumptions.values():
            assert item["source"], item


@pytest.mark.parametrize(
    "name",
    [
        "jpm-meta-2026",
        "hopper-2026",
        "blackwell-2026",
        "meta-2026-base",
        "meta-infra-supplier",
        "meta-super-app",
        "meta-dual-wheel",
    ],
)
def test_every_preset_number_cites_a_source_a_reader_can_open(name: str) -> None:
    from pathlib import Path

    e = evaluate(load_preset(name))
    sources = Path(__file__).parents[2] / "docs" / "sources.md"
    assert sources.exists()
    for key, item in e.assumptions.items():
        src = str(item["source"])
        assert src, key
        assert "issue 2" not in src and "appendix" not in src, (key, src)
