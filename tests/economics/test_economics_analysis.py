"""Tornado, Monte Carlo and break-even prices."""

from __future__ import annotations

import numpy as np
import pytest

from gigawatt.core.errors import InvalidInput
from gigawatt.economics import (
    Distribution,
    Scenario,
    break_even_price,
    evaluate,
    load_preset,
    monte_carlo,
    price_for_revenue,
    sensitivity,
)
from gigawatt.economics.variables import VARIABLES

JPM = load_preset("jpm-meta-2026")


def test_tornado_is_sorted_by_swing_and_matches_single_evaluations() -> None:
    t = sensitivity(JPM)
    swings = [r.swing for r in t.rows]
    assert swings == sorted(swings, reverse=True)
    assert t.rows[0].input.name == "price_per_gpu_hour"  # price moves EPS most
    assert t.base["eps_uplift_usd"] == pytest.approx(evaluate(JPM)["eps_uplift_usd"])
    for row in t.rows[:5]:
        field = "price_per_gpu_hour" if row.input.name == "price_per_gpu_hour" else row.input.name
        low = evaluate(JPM.with_values({field: row.input.low}, "t"))
        assert row.at_low["eps_uplift_usd"] == pytest.approx(low["eps_uplift_usd"])
    # capex and life do not touch the incremental P&L: no swing in EPS
    by_name = {r.input.name: r for r in t.rows}
    assert by_name["capex_per_gw"].swing == 0.0
    assert by_name["price_per_gpu_hour"].input.source.startswith("GB200 about $4.54")


def test_tornado_directions() -> None:
    rows = {r.input.name: r for r in sensitivity(JPM, metric="revenue_usd").rows}
    assert (
        rows["price_per_gpu_hour"].at_low["revenue_usd"]
        < rows["price_per_gpu_hour"].at_high["revenue_usd"]
    )
    assert rows["kw_per_gpu"].at_low["revenue_usd"] > rows["kw_per_gpu"].at_high["revenue_usd"]
    assert rows["tax_rate"].swing == 0.0


def test_tornado_default_ranges_stay_in_bounds() -> None:
    t = sensitivity(Scenario(utilization=0.98, internal_share=0.95))
    rows = {r.input.name: r.input for r in t.rows}
    assert rows["utilization"].high == 1.0
    assert rows["internal_share"].high == 1.0
    for r in rows.values():
        assert VARIABLES[r.name].lower <= r.low <= r.base <= r.high <= VARIABLES[r.name].upper
    with pytest.raises(InvalidInput, match="metric"):
        sensitivity(JPM, metric="happiness")


def test_monte_carlo_is_deterministic_for_a_seed() -> None:
    a = monte_carlo(JPM, 20_000, seed=11)
    b = monte_carlo(JPM, 20_000, seed=11)
    c = monte_carlo(JPM, 20_000, seed=12)
    assert a.percentiles() == b.percentiles()
    assert a.percentiles() != c.percentiles()


def test_monte_carlo_percentiles_are_sane() -> None:
    mc = monte_carlo(JPM, 50_000, seed=1)
    base = evaluate(JPM)
    pct = mc.percentiles()
    for name in ("revenue_usd", "operating_income_usd", "eps_uplift_usd", "npv_usd"):
        assert pct[name]["p5"] < pct[name]["p50"] < pct[name]["p95"]
    assert pct["revenue_usd"]["p5"] < base["revenue_usd"] < pct["revenue_usd"]["p95"]
    assert pct["eps_uplift_usd"]["p5"] > 2.0 and pct["eps_uplift_usd"]["p95"] < 7.0
    doc = mc.to_dict()
    assert doc["draws"] == 50_000 and 0.0 <= doc["probability_operating_loss"] <= 1.0
    assert doc["inputs"]["power_price_per_mwh"]["dist"] == "lognormal"


def test_monte_carlo_with_one_uniform_input_has_the_closed_form_mean() -> None:
    s = JPM.with_values(
        {"uncertainty": {"price_per_gpu_hour": {"dist": "uniform", "low": 4.0, "high": 6.0}}}, "t"
    )
    mc = monte_carlo(s, 200_000, seed=3, only=["price_per_gpu_hour"])
    at_five = evaluate(s.with_values({"tier_prices": {"reserved": 5.0}}, "t"))["revenue_usd"]
    assert mc.samples["revenue_usd"].mean() == pytest.approx(at_five, rel=2e-3)
    assert mc.samples["revenue_usd"].min() >= evaluate(
        s.with_values({"tier_prices": {"reserved": 4.0}}, "t")
    )["revenue_usd"] * (1 - 1e-9)


def test_monte_carlo_chunks_and_progress() -> None:
    seen: list[tuple[int, int]] = []
    mc = monte_carlo(
        JPM, 25_000, seed=5, chunk_size=10_000, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(10_000, 25_000), (20_000, 25_000), (25_000, 25_000)]
    assert np.all(np.isfinite(mc.samples["eps_uplift_usd"]))
    with pytest.raises(InvalidInput, match="draws"):
        monte_carlo(JPM, 0)
    with pytest.raises(InvalidInput, match="only"):
        monte_carlo(JPM, 10, only=["nonsense"])


@pytest.mark.parametrize(
    ("dist", "mean"),
    [
        (Distribution(dist="uniform", low=1.0, high=3.0), 2.0),
        (Distribution(dist="triangular", low=1.0, mode=1.0, high=4.0), 2.0),
        (Distribution(dist="normal", mean=5.0, sd=0.5), 5.0),
        (Distribution(dist="lognormal", median=2.0, sigma=0.1), 2.0 * np.exp(0.005)),
    ],
)
def test_distributions_sample_their_mean(dist: Distribution, mean: float) -> None:
    draws = dist.sample(base=1.0, rng=np.random.default_rng(0), n=200_000)
    assert draws.mean() == pytest.approx(mean, rel=1e-2)


def test_triangular_defaults_its_mode_to_the_base() -> None:
    d = Distribution(dist="triangular", low=0.0, high=10.0)
    assert d.describe(base=7.0)["mode"] == 7.0


@pytest.mark.parametrize("basis", ["full", "incremental"])
def test_break_even_price_gives_zero_npv(basis: str) -> None:
    s = JPM.with_values({"cost_basis": basis}, "t")
    price = break_even_price(s)
    assert price is not None and price > 0
    at = evaluate(s.with_values({"tier_prices": {"reserved": price}}, "t"))
    assert at.npv_usd == pytest.approx(0.0, abs=1e-6 * 50e9)
    if basis == "full":
        assert (
            evaluate(s).npv_usd
            < 0
            < evaluate(s.with_values({"tier_prices": {"reserved": price + 0.1}}, "t")).npv_usd
        )


def test_price_for_target_revenue() -> None:
    price = price_for_revenue(JPM, 20e9)
    assert price == pytest.approx(20e9 / (500_000 * 8760 * 0.85))
    e = evaluate(JPM, target_revenue_usd=20e9)
    assert e.price_for_target_revenue == pytest.approx(price)
    leased = JPM.with_values({"sales_mix": {"lease": 1.0}}, "t")
    assert break_even_price(leased) is None
    with pytest.raises(InvalidInput, match="target_revenue"):
        price_for_revenue(leased, 1e9)
