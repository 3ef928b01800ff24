"""The vectorised model: closed-form cases, conservation, monotonicity, scalar == vectorised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigawatt.economics import Scenario, evaluate, resolve
from gigawatt.economics.model import annual, irr, npv, npv_only, payback_years, yearly

HAND = {
    "power_mw": 200.0,
    "power_basis": "facility",
    "pue": 1.25,
    "gpu": "H100",
    "kw_per_gpu": 1.6,
    "price_per_gpu_hour": 4.0,
    "utilization": 0.5,
    "internal_share": 0.2,
    "internal_value_per_gpu_hour": 3.0,
    "load_factor": 0.5,
    "power_price_per_mwh": 50.0,
    "capex_per_gpu_usd": 30_000.0,
    "facility_capex_per_mw": 10_000_000.0,
    "life_years": 5.0,
    "opex_per_mw_year": 500_000.0,
    "opex_pct_revenue": 0.1,
    "tax_rate": 0.25,
    "diluted_shares": 100_000_000.0,
    "cost_basis": "full",
    "price_decline_per_year": 0.0,
    "discount_rate": 0.1,
}


def test_closed_form_by_hand() -> None:
    """200 MW facility / 1.25 = 160 MW IT / 1.6 kW = 100,000 GPUs, and every line by hand."""
    e = evaluate(Scenario(**HAND))
    assert e["it_power_mw"] == pytest.approx(160.0)
    assert e["gpus"] == 100_000
    billed = 100_000 * 0.8 * 8760 * 0.5
    assert e["gpu_hours_billed"] == pytest.approx(billed)
    assert e["revenue_usd"] == pytest.approx(billed * 4.0)  # 1,401.6M
    assert e["internal_gpu_hours"] == pytest.approx(100_000 * 0.2 * 8760 * 0.5)
    assert e["internal_value_usd"] == pytest.approx(87.6e6 * 3.0)
    assert e["power_cost_usd"] == pytest.approx(200 * 0.5 * 8760 * 50)  # 43.8M
    assert e["capex_usd"] == pytest.approx(100_000 * 30_000 + 10e6 * 160)  # 4.6B
    assert e["depreciation_usd"] == pytest.approx(4.6e9 / 5)
    assert e["opex_usd"] == pytest.approx(0.5e6 * 160 + 0.1 * 1401.6e6)
    # the kept 20% earns its internal value inside operating income
    oi = 1401.6e6 + 262.8e6 - 43.8e6 - 920e6 - 220.16e6
    assert e["operating_income_usd"] == pytest.approx(oi)
    assert e["net_income_usd"] == pytest.approx(oi * 0.75)
    assert e["eps_uplift_usd"] == pytest.approx(oi * 0.75 / 1e8)
    assert e["operating_margin"] == pytest.approx(oi / (1401.6e6 + 262.8e6))


def test_hand_check_is_exact() -> None:
    """The issue's check: 100 MW IT at 1 kW/GPU, $2, 100% -> 100,000 GPUs and $1.752B exactly."""
    s = Scenario(
        power_mw="100MW", power_basis="it", kw_per_gpu=1.0, price_per_gpu_hour=2, utilization=1
    )
    e = evaluate(s)
    assert e["gpus"] == 100_000
    assert e["revenue_usd"] == 1_752_000_000.0


@pytest.mark.parametrize("basis", ["full", "incremental"])
def test_pnl_lines_add_up(basis: str) -> None:
    e = evaluate(Scenario(**{**HAND, "cost_basis": basis}))
    a = e.annual
    costs = a["power_cost_usd"] + a["depreciation_usd"] + a["opex_usd"] + a["selling_cost_usd"]
    earned = a["revenue_usd"] + a["internal_value_usd"]
    assert a["operating_income_usd"] == pytest.approx(earned - costs)
    assert a["net_income_usd"] == pytest.approx(a["operating_income_usd"] - a["tax_usd"])
    streams = a["revenue_gpu_hours_usd"] + a["revenue_tokens_usd"] + a["revenue_lease_usd"]
    assert a["revenue_usd"] == pytest.approx(streams)
    assert sum(e.revenue_by_tier().values()) == pytest.approx(a["revenue_gpu_hours_usd"])
    if basis == "incremental":
        assert a["depreciation_usd"] == 0.0
        assert e.investment_usd == 0.0


def test_yearly_depreciation_sums_to_capex_with_a_partial_last_year() -> None:
    e = evaluate(Scenario(**{**HAND, "life_years": 5.5}))
    assert len(e.years) == 6
    assert sum(y["depreciation_usd"] for y in e.years) == pytest.approx(e["capex_usd"])
    assert e.years[5]["revenue_usd"] == pytest.approx(e.years[4]["revenue_usd"] / 2)


def test_npv_closed_form_annuity() -> None:
    """No decline, no ramp: NPV = -capex + cash x annuity factor."""
    e = evaluate(Scenario(**HAND))
    cash = e["net_income_usd"] + e["depreciation_usd"]
    annuity = sum(1.1**-t for t in range(1, 6))
    assert e.npv_usd == pytest.approx(-4.6e9 + cash * annuity)
    assert all(y["cash_flow_usd"] == pytest.approx(cash) for y in e.years)
    assert e.irr is not None
    flows = np.array([y["cash_flow_usd"] for y in e.years])
    assert float(npv(np.array(-4.6e9), flows, e.irr)) == pytest.approx(0.0, abs=1.0)
    assert e.payback_years == pytest.approx(4.6e9 / cash)


def test_irr_and_payback_edge_cases() -> None:
    cash = np.array([[50.0, 50.0, 50.0], [10.0, 10.0, 10.0], [0.0, 0.0, 0.0]])
    inv = np.array([-100.0, -100.0, -100.0])
    rates = irr(inv, cash)
    assert rates[0] == pytest.approx(0.2337519, rel=1e-5)
    assert float(npv(inv[1], cash[1], rates[1])) == pytest.approx(0.0, abs=1e-6)
    assert rates[1] < 0  # a loss-making project has a negative IRR
    assert np.isnan(rates[2])  # nothing ever comes back: no rate makes NPV zero
    pb = payback_years(inv, cash)
    assert pb[0] == pytest.approx(2.0)
    assert np.isnan(pb[1]) and np.isnan(pb[2])
    assert payback_years(np.array(0.0), np.array([1.0, 1.0])) == 0.0


def test_ramp_and_price_decline_shape_the_years() -> None:
    s = Scenario(**{**HAND, "utilization_ramp": (0.5,), "price_decline_per_year": 0.2})
    e = evaluate(s)
    base = e["revenue_usd"]
    assert e.years[0]["revenue_usd"] == pytest.approx(base * 0.5)
    assert e.years[1]["revenue_usd"] == pytest.approx(base * 0.8)
    assert e.years[2]["revenue_usd"] == pytest.approx(base * 0.64)


def _vector_inputs(s: Scenario, name: str, values: np.ndarray) -> dict[str, Any]:
    r = resolve(s)
    x: dict[str, Any] = dict(r.inputs)
    x[name] = values
    return x


def test_vectorised_equals_one_at_a_time() -> None:
    s = Scenario(**HAND)
    prices = np.array([1.0, 2.5, 4.0, 7.0])
    r = resolve(s)
    vec = annual(_vector_inputs(s, "price_per_gpu_hour", prices), r.structure)
    for i, p in enumerate(prices):
        one = evaluate(Scenario(**{**HAND, "price_per_gpu_hour": float(p)}))
        assert vec["revenue_usd"][i] == pytest.approx(one["revenue_usd"])
        assert vec["eps_uplift_usd"][i] == pytest.approx(one["eps_uplift_usd"])


@pytest.mark.parametrize(
    "preset_like",
    [
        HAND,
        {**HAND, "cost_basis": "incremental"},
        {**HAND, "life_years": 3.3, "utilization_ramp": (0.4, 0.9), "price_decline_per_year": 0.15},
    ],
)
def test_fast_npv_equals_yearly_npv(preset_like: dict[str, Any]) -> None:
    r = resolve(Scenario(**preset_like))
    x = _vector_inputs(Scenario(**preset_like), "life_years", np.array([2.2, 3.3, 5.0, 7.5]))
    assert npv_only(x, r.structure) == pytest.approx(yearly(x, r.structure)["npv_usd"])


def test_gpu_mix_floors_each_type() -> None:
    e = evaluate(Scenario(power_mw=1000, power_basis="it", gpu_mix={"H100": 0.5, "GB200": 0.5}))
    assert e.gpus_by_type == {"H100": 357_142, "GB200": 250_000}
    assert e["gpus"] == 357_142 + 250_000


def test_tokens_and_lease_revenue() -> None:
    tokens = evaluate(
        Scenario(
            **{
                **HAND,
                "sales_mix": {"tokens": 1.0},
                "tokens_per_second": 1000,
                "token_price_per_million": 1.0,
            }
        )
    )
    hours = 100_000 * 0.8 * 8760 * 0.5
    assert tokens["revenue_usd"] == pytest.approx(hours * 3600 * 1000 / 1e6)
    assert tokens["gpu_hours_billed"] == 0.0
    lease = evaluate(
        Scenario(**{**HAND, "sales_mix": {"lease": 1.0}, "lease_price_per_watt_year": 12.0})
    )
    assert lease["revenue_usd"] == pytest.approx(160e6 * 0.8 * 12.0)


def test_monotone_in_price_and_utilisation_vectorised() -> None:
    s = Scenario(**HAND)
    r = resolve(s)
    prices = np.linspace(0, 10, 101)
    rev = annual(_vector_inputs(s, "price_per_gpu_hour", prices), r.structure)["revenue_usd"]
    assert np.all(np.diff(rev) > 0)
    utils = np.linspace(0, 1, 101)
    rev = annual(_vector_inputs(s, "utilization", utils), r.structure)["revenue_usd"]
    assert np.all(np.diff(rev) > 0)
    pues = np.linspace(1.0, 2.0, 101)
    rev = annual(_vector_inputs(s, "pue", pues), r.structure)["revenue_usd"]
    assert np.all(np.diff(rev) <= 0) and rev[-1] < rev[0]


_fraction = st.floats(min_value=0.0, max_value=1.0)


@settings(max_examples=60, deadline=None)
@given(
    price=st.floats(min_value=0.1, max_value=20),
    util=_fraction,
    pue=st.floats(min_value=1.0, max_value=2.5),
    power=st.floats(min_value=1.0, max_value=5000.0),
    internal=_fraction,
    bump=st.floats(min_value=1.001, max_value=2.0),
)
def test_monotonicity_properties(
    price: float, util: float, pue: float, power: float, internal: float, bump: float
) -> None:
    """Revenue never falls with price or utilisation, and never rises with PUE (facility)."""
    base = {
        "power_mw": power,
        "pue": pue,
        "price_per_gpu_hour": price,
        "utilization": util,
        "internal_share": internal,
        "power_basis": "facility",
    }
    rev = evaluate(Scenario(**base))["revenue_usd"]
    assert evaluate(Scenario(**{**base, "price_per_gpu_hour": price * bump}))["revenue_usd"] >= rev
    higher_util = min(1.0, util * bump + 0.001)
    assert evaluate(Scenario(**{**base, "utilization": higher_util}))["revenue_usd"] >= rev
    assert evaluate(Scenario(**{**base, "pue": pue * bump}))["revenue_usd"] <= rev
