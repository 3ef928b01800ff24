"""The vectorised core: capacity → revenue → costs → P&L → cash flows → NPV, IRR, payback.

Every function takes ``x``, a mapping from the names in :data:`INPUTS` to floats or NumPy
arrays that broadcast against each other, and returns arrays of that broadcast shape. The same
call values one scenario (scalars), a tornado (a few dozen rows) or a million Monte Carlo
draws. Nothing here knows about YAML, the catalogue or the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gigawatt.economics.defaults import HOURS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
Inputs = Mapping[str, "float | FloatArray"]

#: Names every input mapping must provide (see :func:`gigawatt.economics.resolve.resolve`).
INPUTS: tuple[str, ...] = (
    "power_mw",
    "facility_basis",  # 1.0: power_mw is facility power (divide by PUE); 0.0: IT power
    "pue",
    "kw_per_gpu",  # all-in IT kW per GPU (fleet average, see Structure.kw_rel)
    "price_per_gpu_hour",  # blended over the tier mix
    "utilization",
    "internal_share",
    "internal_value_per_gpu_hour",
    "share_gpu_hours",
    "share_tokens",
    "share_lease",
    "tokens_per_second",
    "token_price_per_million",
    "lease_price_per_watt_year",
    "load_factor",
    "power_price_per_mwh",
    "capex_per_gw",  # per GW of IT power; 0 when per-GPU capex is used
    "capex_per_gpu_usd",
    "facility_capex_per_mw",
    "life_years",
    "opex_per_mw_year",
    "opex_pct_revenue",
    "tax_rate",
    "diluted_shares",
    "full_basis",  # 1.0: full cost basis (depreciation and capex); 0.0: incremental
    "discount_rate",
    "price_decline_per_year",
)

#: Guards ``floor`` against a product such as 99,999.99999999 that is exactly 100,000 on paper.
_FLOOR_EPS = 1e-6


@dataclass(frozen=True)
class Structure:
    """The parts of a scenario that are not varied: the GPU mix and the utilisation ramp.

    ``power_shares`` are the IT-power shares of each GPU type; ``kw_rel`` each type's kW per GPU
    relative to the fleet average ``kw_per_gpu`` input (exactly 1.0 for a single type).
    ``ramp`` multiplies the target utilisation in years 1, 2, ... (later years: 1).
    """

    power_shares: tuple[float, ...] = (1.0,)
    kw_rel: tuple[float, ...] = (1.0,)
    ramp: tuple[float, ...] = ()


def _a(x: Inputs, name: str) -> FloatArray:
    return np.asarray(x[name], dtype=np.float64)


def capacity(x: Inputs, st: Structure) -> dict[str, FloatArray]:
    """IT and facility MW, whole GPUs by type and in total."""
    power, pue = _a(x, "power_mw"), _a(x, "pue")
    it_mw = np.where(_a(x, "facility_basis") > 0.5, power / pue, power)
    shares = np.asarray(st.power_shares, dtype=np.float64)
    kw = np.asarray(st.kw_rel, dtype=np.float64) * _a(x, "kw_per_gpu")[..., None]
    ideal = it_mw[..., None] * 1000.0 * shares / kw
    by_type = np.floor(ideal + _FLOOR_EPS)
    return {
        "it_power_mw": it_mw,
        "facility_power_mw": it_mw * pue,
        "gpus_by_type": by_type,
        "gpus": by_type.sum(axis=-1),
    }


def annual(x: Inputs, st: Structure) -> dict[str, FloatArray]:
    """The run-rate year (target utilisation, today's prices): revenue, costs, P&L, EPS."""
    out = capacity(x, st)
    gpus, it_mw = out["gpus"], out["it_power_mw"]
    util, internal = _a(x, "utilization"), _a(x, "internal_share")
    external = 1.0 - internal
    hours = gpus * HOURS_PER_YEAR * util  # GPU-hours used, own and sold
    out["gpu_hours_billed"] = gpus * external * _a(x, "share_gpu_hours") * HOURS_PER_YEAR * util
    out["revenue_gpu_hours_usd"] = out["gpu_hours_billed"] * _a(x, "price_per_gpu_hour")
    token_hours = gpus * external * _a(x, "share_tokens") * HOURS_PER_YEAR * util
    out["tokens_billed"] = token_hours * _a(x, "tokens_per_second") * 3600.0
    out["revenue_tokens_usd"] = out["tokens_billed"] / 1e6 * _a(x, "token_price_per_million")
    leased_watts = it_mw * 1e6 * external * _a(x, "share_lease")
    out["revenue_lease_usd"] = leased_watts * _a(x, "lease_price_per_watt_year")
    revenue = out["revenue_gpu_hours_usd"] + out["revenue_tokens_usd"] + out["revenue_lease_usd"]
    out["revenue_usd"] = revenue
    out["internal_gpu_hours"] = hours * internal
    out["internal_value_usd"] = out["internal_gpu_hours"] * _a(x, "internal_value_per_gpu_hour")
    out["power_cost_usd"] = (
        out["facility_power_mw"]
        * _a(x, "load_factor")
        * HOURS_PER_YEAR
        * _a(x, "power_price_per_mwh")
    )
    out["capex_usd"] = (
        _a(x, "capex_per_gw") * it_mw / 1000.0
        + gpus * _a(x, "capex_per_gpu_usd")
        + _a(x, "facility_capex_per_mw") * it_mw
    )
    out["depreciation_usd"] = _a(x, "full_basis") * out["capex_usd"] / _a(x, "life_years")
    out["opex_fixed_usd"] = _a(x, "opex_per_mw_year") * it_mw
    out["opex_usd"] = out["opex_fixed_usd"] + _a(x, "opex_pct_revenue") * revenue
    _income(out, revenue, x)
    return out


def _income(out: dict[str, FloatArray], revenue: FloatArray, x: Inputs) -> None:
    """Operating income, margin, tax (a loss earns a tax credit), net income and EPS."""
    costs = out["power_cost_usd"] + out["depreciation_usd"] + out["opex_usd"]
    oi = revenue - costs
    out["operating_income_usd"] = oi
    safe = np.where(revenue > 0, revenue, 1.0)
    with np.errstate(over="ignore"):  # a vanishing revenue has an unbounded margin
        out["operating_margin"] = np.where(revenue > 0, oi / safe, 0.0)
    out["tax_usd"] = _a(x, "tax_rate") * oi
    out["net_income_usd"] = oi - out["tax_usd"]
    out["eps_uplift_usd"] = out["net_income_usd"] / _a(x, "diluted_shares")


def horizon_years(x: Inputs) -> int:
    """Years of operation modelled: the asset life rounded up (the last year may be partial)."""
    return max(1, int(np.ceil(float(np.max(_a(x, "life_years"))) - 1e-9)))


def yearly(
    x: Inputs, st: Structure, base: Mapping[str, FloatArray] | None = None
) -> dict[str, FloatArray]:
    """Cash flows over the asset life; yearly arrays have a trailing axis of years.

    Prices of GPU-hours and tokens fall by ``price_decline_per_year`` a year (leases are
    contracted and keep their price); utilisation follows the ramp; the last year counts only
    its operating fraction (a 5.5-year life runs half of year 6). Year 0 invests the capex on
    the full basis; on the incremental basis the capacity exists already and nothing is invested.
    """
    a = dict(base) if base is not None else annual(x, st)
    life = _a(x, "life_years")[..., None]
    n_years = horizon_years(x)
    years = np.arange(1, n_years + 1, dtype=np.float64)
    op = np.clip(life - (years - 1.0), 0.0, 1.0)
    ramp = np.ones(n_years)
    ramp[: min(len(st.ramp), n_years)] = st.ramp[:n_years]
    decline = (1.0 - _a(x, "price_decline_per_year"))[..., None] ** (years - 1.0)
    sold = (a["revenue_gpu_hours_usd"] + a["revenue_tokens_usd"])[..., None]
    revenue = sold * op * ramp * decline + a["revenue_lease_usd"][..., None] * op
    power = a["power_cost_usd"][..., None] * op
    full = _a(x, "full_basis")
    depreciation = (full * a["capex_usd"])[..., None] / life * op
    opex = a["opex_fixed_usd"][..., None] * op + _a(x, "opex_pct_revenue")[..., None] * revenue
    oi = revenue - power - depreciation - opex
    tax = _a(x, "tax_rate")[..., None] * oi
    cash = oi - tax + depreciation
    investment = -(full * a["capex_usd"])
    discount = (1.0 + _a(x, "discount_rate"))[..., None] ** -years
    return {
        "year": np.broadcast_to(years, cash.shape),
        "revenue_usd": revenue,
        "power_cost_usd": power,
        "depreciation_usd": depreciation,
        "opex_usd": opex,
        "operating_income_usd": oi,
        "tax_usd": tax,
        "net_income_usd": oi - tax,
        "cash_flow_usd": cash,
        "investment_usd": investment,
        "npv_usd": investment + (cash * discount).sum(axis=-1),
    }


def npv_only(x: Inputs, st: Structure, base: Mapping[str, FloatArray] | None = None) -> FloatArray:
    """The ``npv_usd`` of :func:`yearly` without building the yearly arrays (Monte Carlo path).

    Every yearly line is a per-draw amount times a yearly factor (operating fraction, ramp,
    price decline), so NPV = investment + (1-t)[(1-pct)(S·A + L·B) - (P+F)·B] + t·D·B with
    A = sum of discounted sold-revenue factors and B = sum of discounted operating fractions.
    """
    a = base if base is not None else annual(x, st)
    life, rate = _a(x, "life_years"), _a(x, "discount_rate")
    growth = 1.0 - _a(x, "price_decline_per_year")
    sum_a: FloatArray = np.zeros(np.shape(life))
    sum_b: FloatArray = np.zeros(np.shape(life))
    price_factor: FloatArray | float = 1.0
    for year in range(1, horizon_years(x) + 1):
        op = np.clip(life - (year - 1.0), 0.0, 1.0)
        disc_op = op * (1.0 + rate) ** -float(year)
        ramp = st.ramp[year - 1] if year <= len(st.ramp) else 1.0
        sum_a = sum_a + disc_op * (ramp * price_factor)
        sum_b = sum_b + disc_op
        price_factor = price_factor * growth
    tax, pct = _a(x, "tax_rate"), _a(x, "opex_pct_revenue")
    sold = a["revenue_gpu_hours_usd"] + a["revenue_tokens_usd"]
    depreciation = _a(x, "full_basis") * a["capex_usd"] / life
    operating = (1.0 - pct) * (sold * sum_a + a["revenue_lease_usd"] * sum_b)
    operating = operating - (a["power_cost_usd"] + a["opex_fixed_usd"]) * sum_b
    investment = -(_a(x, "full_basis") * a["capex_usd"])
    return np.asarray(
        investment + (1.0 - tax) * operating + tax * depreciation * sum_b, dtype=np.float64
    )


def npv(investment: FloatArray, cash: FloatArray, rate: FloatArray | float) -> FloatArray:
    """NPV of ``investment`` (year 0, already signed) plus ``cash`` (years 1..Y) at ``rate``."""
    years = np.arange(1, cash.shape[-1] + 1, dtype=np.float64)
    discount = (1.0 + np.asarray(rate, dtype=np.float64))[..., None] ** -years
    return np.asarray(investment + (cash * discount).sum(axis=-1), dtype=np.float64)


def irr(investment: FloatArray, cash: FloatArray, iterations: int = 200) -> FloatArray:
    """Internal rate of return by bisection on (-99%, 1000%); NaN where NPV does not change sign
    (e.g. nothing invested on the incremental basis, or a project that never pays back)."""
    inv = np.asarray(investment, dtype=np.float64)
    lo = np.full(inv.shape, -0.99)
    hi = np.full(inv.shape, 10.0)
    f_lo = npv(inv, cash, lo)
    valid = (f_lo * npv(inv, cash, hi) < 0) & (inv < 0)
    for _ in range(iterations):
        mid = (lo + hi) / 2.0
        same = npv(inv, cash, mid) * f_lo > 0
        lo = np.where(same, mid, lo)
        hi = np.where(same, hi, mid)
    return np.where(valid, (lo + hi) / 2.0, np.nan)


def payback_years(investment: FloatArray, cash: FloatArray) -> FloatArray:
    """Years until cumulative cash turns non-negative (interpolated within the year);
    0 when nothing is invested, NaN when the investment is never recovered."""
    inv = np.asarray(investment, dtype=np.float64)
    cum = inv[..., None] + np.cumsum(cash, axis=-1)
    reached = cum >= 0
    k = np.argmax(reached, axis=-1)[..., None]
    before = np.take_along_axis(cum, np.maximum(k - 1, 0), axis=-1)[..., 0]
    before = np.where(k[..., 0] > 0, before, inv)
    flow = np.take_along_axis(cash, k, axis=-1)[..., 0]
    frac = np.where(flow > 0, -before / np.where(flow > 0, flow, 1.0), 0.0)
    result = np.where(reached.any(axis=-1), k[..., 0] + frac, np.nan)
    return np.asarray(np.where(inv >= 0, 0.0, result), dtype=np.float64)
