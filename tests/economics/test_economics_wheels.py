"""Two wheels in one P&L: closed forms of the internal value and the scarce price, the cost
allocation, the best split (closed forms where they exist, properties where they don't)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigawatt.economics import Scenario, evaluate, load_preset, resolve
from gigawatt.economics.allocation import (
    break_even_internal_value,
    frontier,
    objective_values,
    optimal_share,
)

#: 100,000 GPUs at 1 kW on 100 MW of IT power; no costs that depend on the split but opex %.
BASE: dict[str, Any] = {
    "power_mw": "100MW",
    "power_basis": "it",
    "kw_per_gpu": 1.0,
    "price_per_gpu_hour": 4.0,
    "utilization": 0.8,
    "internal_value_per_gpu_hour": 3.0,
    "opex_pct_revenue": 0.1,
    "selling_cost_pct_revenue": 0.05,
    "opex_per_mw_year": 1e6,
    "power_price_per_mwh": 60.0,
    "cost_basis": "incremental",
    "tax_rate": 0.2,
    "diluted_shares": 1e9,
    "price_decline_per_year": 0.0,
}
H = 8760.0


def scenario(**over: Any) -> Scenario:
    return Scenario(**{**BASE, **over})


def test_internal_value_closed_form_with_elasticity() -> None:
    """V(g) = v x 8,760 x u_int x g_ref x (g / g_ref)^alpha."""
    e = evaluate(
        scenario(
            internal_share=0.25,
            internal_value_elasticity=0.5,
            internal_utilization=0.9,
            internal_reference_gpus=50_000,
        )
    )
    g = 25_000
    expected = 3.0 * H * 0.9 * 50_000 * (g / 50_000) ** 0.5
    assert e["internal_value_usd"] == pytest.approx(expected)
    assert e["internal_gpu_hours"] == pytest.approx(g * H * 0.9)


def test_linear_default_is_todays_value() -> None:
    e = evaluate(scenario(internal_share=0.3))
    assert e["internal_value_usd"] == pytest.approx(30_000 * H * 0.8 * 3.0)


def test_scarce_price_closed_form() -> None:
    """p(q) = p x (1 + s x (1 - q / q_ref)): 60,000 GPUs sold of a 100,000 reference."""
    e = evaluate(scenario(internal_share=0.4, price_premium_when_scarce=0.5))
    price = 4.0 * (1 + 0.5 * (1 - 60_000 / 100_000))
    assert e["revenue_usd"] == pytest.approx(60_000 * H * 0.8 * price)


def test_costs_allocated_by_gpus_held_and_selling_costs_external_only() -> None:
    e = evaluate(scenario(internal_share=0.3))
    ext, kept = e.segments["external"], e.segments["internal"]
    assert ext["power_cost_usd"] == pytest.approx(0.7 * e["power_cost_usd"])
    assert kept["power_cost_usd"] == pytest.approx(0.3 * e["power_cost_usd"])
    assert kept["opex_usd"] == pytest.approx(0.3 * 1e6 * 100)
    assert ext["selling_cost_usd"] == pytest.approx(0.05 * e["revenue_usd"])
    assert kept["selling_cost_usd"] == 0.0
    for line in ("operating_income_usd", "tax_usd", "net_income_usd", "eps_usd"):
        total = "eps_uplift_usd" if line == "eps_usd" else line
        assert ext[line] + kept[line] == pytest.approx(e[total]), line  # type: ignore[operator]
    assert kept["revenue_or_value_usd"] == pytest.approx(e["internal_value_usd"])


def test_internal_value_moves_eps_npv_and_keep_all_is_not_a_loss() -> None:
    low = evaluate(scenario(internal_share=0.5, internal_value_per_gpu_hour=3))
    high = evaluate(scenario(internal_share=0.5, internal_value_per_gpu_hour=10))
    assert high["eps_uplift_usd"] > low["eps_uplift_usd"]
    assert high.npv_usd > low.npv_usd
    keep_all = evaluate(scenario(internal_share=1.0))
    assert keep_all["revenue_usd"] == 0.0
    assert keep_all["eps_uplift_usd"] > 0  # the facility's costs are the kept wheel's, and paid


def test_stated_operating_margin_sets_the_external_wheel() -> None:
    e = evaluate(scenario(internal_share=0.2, operating_margin=0.35))
    ext = e.segments["external"]
    assert ext["operating_income_usd"] == pytest.approx(0.35 * e["revenue_usd"])
    assert ext["power_cost_usd"] == 0.0 and ext["selling_cost_usd"] == 0.0


def test_lease_term_reverts_capacity_to_the_internal_wheel() -> None:
    lease = {"sales_mix": {"lease": 1.0}, "lease_price_per_watt_year": 15.0, "life_years": 5}
    whole = evaluate(scenario(**lease))
    short = evaluate(scenario(**lease, lease_term_years=2))
    assert whole.years[2]["revenue_usd"] > 0
    assert short.years[1]["revenue_usd"] == pytest.approx(whole.years[1]["revenue_usd"])
    assert short.years[2]["revenue_usd"] == 0.0
    assert short.years[2]["internal_value_usd"] == pytest.approx(100_000 * H * 0.8 * 3.0)
    facility = evaluate(scenario(**lease, lease_basis="facility", pue=1.25))
    assert facility["revenue_lease_usd"] == pytest.approx(1.25 * whole["revenue_lease_usd"])


def test_payback_in_a_partial_final_year_uses_its_months() -> None:
    """The audit's case: jpm on the full basis at $4.30 pays back in about 5.39 of 5.5 years."""
    s = load_preset("jpm-meta-2026").with_values(
        {"cost_basis": "full", "price_per_gpu_hour": 4.3}, "test"
    )
    e = evaluate(s)
    assert e.payback_years == pytest.approx(5.39, abs=0.01)
    assert e.payback_years < s.life_years


def test_eps_is_not_divided_by_a_placeholder() -> None:
    e = evaluate(Scenario(power_mw="10MW"))
    assert np.isnan(e["eps_uplift_usd"])
    assert e.to_dict()["eps_uplift_usd"] is None
    assert any("share count" in w for w in e.warnings)


def _closed_form_share(alpha: float, v: float, p: float, u: float, cost_pct: float) -> float:
    """s = 0: maximise (1-i) G u p (1-c) + v u G^(1-a) (iG)^a,
    so i* = (a v / (p (1-c)))^(1/(1-a)) (u cancels when u_int = u)."""
    return float(np.clip((alpha * v / (p * (1 - cost_pct))) ** (1 / (1 - alpha)), 0, 1))


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.8])
def test_optimal_split_closed_form_without_premium(alpha: float) -> None:
    r = resolve(scenario(internal_value_elasticity=alpha))
    share, _ = optimal_share(r, "eps")
    assert share == pytest.approx(_closed_form_share(alpha, 3.0, 4.0, 0.8, 0.15), abs=1e-5)


def test_optimal_split_closed_form_with_premium_and_linear_value() -> None:
    """alpha = 1, s > 0: q* = Q (1 + s - v / (p (1 - c))) / (2 s)."""
    s = 0.6
    r = resolve(scenario(price_premium_when_scarce=s))
    share, _ = optimal_share(r, "eps")
    q = (1 + s - 3.0 / (4.0 * 0.85)) / (2 * s)
    assert share == pytest.approx(1 - q, abs=1e-5)


def test_linear_model_is_all_or_nothing_and_break_even_is_the_net_price() -> None:
    r = resolve(scenario())
    share, _ = optimal_share(r, "eps")
    assert share == 0.0  # v = 3 < p (1 - c) = 3.4: sell everything
    assert break_even_internal_value(r, "eps", 0.0) == pytest.approx(4.0 * 0.85, rel=1e-6)
    keep = resolve(scenario(internal_value_per_gpu_hour=3.5))
    assert optimal_share(keep, "eps")[0] == 1.0


@settings(max_examples=25, deadline=None)
@given(
    alpha=st.floats(0.2, 1.0),
    v=st.floats(0.5, 8.0),
    premium=st.floats(0.0, 1.0),
    objective=st.sampled_from(["eps", "npv", "equity_value"]),
)
def test_optimum_beats_every_grid_point(
    alpha: float, v: float, premium: float, objective: str
) -> None:
    r = resolve(
        scenario(
            internal_value_elasticity=alpha,
            internal_value_per_gpu_hour=v,
            price_premium_when_scarce=premium,
        )
    )
    share, best = optimal_share(r, objective)
    key = {"eps": "eps_usd", "npv": "npv_usd", "equity_value": "equity_value_usd"}[objective]
    grid = max(p[key] for p in frontier(r))
    assert best >= grid - 1e-9 * max(1.0, abs(grid))
    assert 0.0 <= share <= 1.0
    assert float(objective_values(r, share)[objective]) == pytest.approx(best)


def test_monotonic_in_the_split() -> None:
    r = resolve(scenario(internal_value_elasticity=0.6, price_premium_when_scarce=0.3))
    points = frontier(r)
    revenue = [
        evaluate(scenario(internal_share=p["internal_share"]))["revenue_usd"] for p in points[::10]
    ]
    assert revenue == sorted(revenue, reverse=True)  # selling less earns less revenue
    value = objective_values(
        resolve(scenario(internal_value_elasticity=0.6)), np.linspace(0, 1, 11)
    )["net_income"]
    assert np.all(np.isfinite(value))


@pytest.mark.parametrize(
    "over",
    [
        {"internal_share": 0.3, "internal_value_elasticity": 0.6, "utilization_ramp": (0.5, 0.8)},
        {
            "internal_share": 0.5,
            "price_premium_when_scarce": 0.3,
            "cost_basis": "full",
            "life_years": 5.5,
            "price_decline_per_year": 0.1,
        },
        {"sales_mix": {"lease": 0.5, "gpu_hours": 0.5}, "lease_term_years": 2, "life_years": 4},
        {"internal_share": 0.2, "operating_margin": 0.3, "life_years": 3.5},
    ],
)
def test_npv_fast_path_equals_the_yearly_sum(over: dict[str, Any]) -> None:
    from gigawatt.economics.model import annual, npv_only, yearly

    r = resolve(scenario(**over))
    a = annual(r.inputs, r.structure)
    assert float(npv_only(r.inputs, r.structure, a)) == pytest.approx(
        float(yearly(r.inputs, r.structure, a)["npv_usd"]), rel=1e-9
    )
