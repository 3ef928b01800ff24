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
#: Sentinels keep the model vectorised: ``internal_utilization`` < 0 follows ``utilization``,
#: a reference GPU count of 0 means "all GPUs", ``operating_margin`` NaN builds costs up,
#: ``lease_term_years`` inf means the whole life, ``diluted_shares`` NaN means no EPS.
INPUTS: tuple[str, ...] = (
    "power_mw",
    "facility_basis",  # 1.0: power_mw is facility power (divide by PUE); 0.0: IT power
    "pue",
    "kw_per_gpu",  # all-in IT kW per GPU (fleet average, see Structure.kw_rel)
    "price_per_gpu_hour",  # blended over the tier mix
    "utilization",
    "internal_share",
    "internal_value_per_gpu_hour",
    "internal_utilization",
    "internal_value_elasticity",
    "internal_reference_gpus",
    "external_reference_gpus",
    "price_premium_when_scarce",
    "share_gpu_hours",
    "share_tokens",
    "share_lease",
    "tokens_per_second",
    "token_price_per_million",
    "lease_price_per_watt_year",
    "lease_facility_basis",  # 1.0: lease prices are per facility watt; 0.0: per IT watt
    "lease_term_years",
    "load_factor",
    "power_price_per_mwh",
    "capex_per_gw",  # per GW of IT power; 0 when per-GPU capex is used
    "capex_per_gpu_usd",
    "facility_capex_per_mw",
    "life_years",
    "opex_per_mw_year",
    "opex_pct_revenue",
    "selling_cost_pct_revenue",
    "operating_margin",
    "tax_rate",
    "diluted_shares",
    "full_basis",  # 1.0: full cost basis (depreciation and capex); 0.0: incremental
    "discount_rate",
    "price_decline_per_year",
    "platform_pe",
    "cloud_pe",
    "base_net_income",
    "base_pe",
    "rerating_at_full_sale",
)

#: Guards ``floor`` against a product such as 99,999.99999999 that is exactly 100,000 on paper.
_FLOOR_EPS = 1e-6
#: The two wheels, as key prefixes of :func:`annual`'s output (``ext_operating_income_usd``).
SEGMENTS: tuple[str, ...] = ("ext", "int")
#: The lines each wheel reports.
SEGMENT_LINES: tuple[str, ...] = (
    "revenue_or_value_usd",
    "power_cost_usd",
    "depreciation_usd",
    "opex_usd",
    "selling_cost_usd",
    "operating_income_usd",
    "tax_usd",
    "net_income_usd",
    "eps_usd",
)


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


def _reference(x: Inputs, name: str, gpus: FloatArray) -> FloatArray:
    """A reference GPU count (0 means all GPUs), never 0 so it can divide."""
    ref = _a(x, name)
    ref = np.where(ref > 0, ref, gpus)
    return np.where(ref > 0, ref, 1.0)


def internal_utilization(x: Inputs) -> FloatArray:
    """``internal_utilization``, or ``utilization`` where it is not set (negative)."""
    u_int = _a(x, "internal_utilization")
    return np.where(u_int < 0, _a(x, "utilization"), u_int)


def internal_value(x: Inputs, internal_gpus: FloatArray, gpus: FloatArray) -> FloatArray:
    """V(g) = v x 8,760 x u_int x g_ref x (g / g_ref)^alpha: what the owner's products earn
    a year from ``internal_gpus`` GPUs, before the compute's own costs."""
    ref = _reference(x, "internal_reference_gpus", gpus)
    ratio = np.clip(internal_gpus / ref, 0.0, None)
    return np.asarray(
        _a(x, "internal_value_per_gpu_hour")
        * HOURS_PER_YEAR
        * internal_utilization(x)
        * ref
        * ratio ** _a(x, "internal_value_elasticity"),
        dtype=np.float64,
    )


def price_multiplier(x: Inputs, external_gpus: FloatArray, gpus: FloatArray) -> FloatArray:
    """p(q) / p = 1 + s x (1 - q / q_ref): the achievable price rises as less is sold."""
    ref = _reference(x, "external_reference_gpus", gpus)
    return np.asarray(
        1.0 + _a(x, "price_premium_when_scarce") * (1.0 - external_gpus / ref), dtype=np.float64
    )


def annual(x: Inputs, st: Structure) -> dict[str, FloatArray]:
    """The run-rate year (target utilisation, today's prices): both wheels, P&L, EPS.

    Keys prefixed ``ext_`` and ``int_`` are the external (sold) and internal (kept) wheels;
    the unprefixed lines are their totals.
    """
    out = capacity(x, st)
    gpus, it_mw = out["gpus"], out["it_power_mw"]
    util, internal = _a(x, "utilization"), _a(x, "internal_share")
    external = 1.0 - internal
    out["external_gpus"], out["internal_gpus"] = gpus * external, gpus * internal
    mult = price_multiplier(x, out["external_gpus"], gpus)
    out["price_multiplier"] = mult
    sold_hours = out["external_gpus"] * HOURS_PER_YEAR * util
    out["gpu_hours_billed"] = sold_hours * _a(x, "share_gpu_hours")
    out["revenue_gpu_hours_usd"] = out["gpu_hours_billed"] * _a(x, "price_per_gpu_hour") * mult
    token_hours = sold_hours * _a(x, "share_tokens")
    out["tokens_billed"] = token_hours * _a(x, "tokens_per_second") * 3600.0
    token_price = _a(x, "token_price_per_million") * mult
    out["revenue_tokens_usd"] = out["tokens_billed"] / 1e6 * token_price
    lease_mw = np.where(_a(x, "lease_facility_basis") > 0.5, out["facility_power_mw"], it_mw)
    leased_watts = lease_mw * 1e6 * external * _a(x, "share_lease")
    out["revenue_lease_usd"] = leased_watts * _a(x, "lease_price_per_watt_year") * mult
    revenue = out["revenue_gpu_hours_usd"] + out["revenue_tokens_usd"] + out["revenue_lease_usd"]
    out["revenue_usd"] = revenue
    out["internal_gpu_hours"] = out["internal_gpus"] * HOURS_PER_YEAR * internal_utilization(x)
    out["internal_value_usd"] = internal_value(x, out["internal_gpus"], gpus)
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
    _wheels(out, x, external, internal)
    return out


def _wheels(
    out: dict[str, FloatArray], x: Inputs, external: FloatArray, inside: FloatArray
) -> None:
    """Allocate power, depreciation and fixed opex by GPUs held; selling costs to the
    external wheel alone; with ``operating_margin`` the external costs follow from it."""
    revenue = out["revenue_usd"]
    power, dep, fixed = out["power_cost_usd"], out["depreciation_usd"], out["opex_fixed_usd"]
    margin = _a(x, "operating_margin")
    stated = np.isfinite(margin)
    m = np.where(stated, margin, 0.0)
    ext_dep = dep * external
    built_opex = fixed * external + _a(x, "opex_pct_revenue") * revenue
    lines = {
        "ext_revenue_or_value_usd": revenue,
        "ext_power_cost_usd": np.where(stated, 0.0, power * external),
        "ext_depreciation_usd": ext_dep,
        "ext_opex_usd": np.where(stated, (1.0 - m) * revenue - ext_dep, built_opex),
        "ext_selling_cost_usd": np.where(stated, 0.0, _a(x, "selling_cost_pct_revenue") * revenue),
        "int_revenue_or_value_usd": out["internal_value_usd"],
        "int_power_cost_usd": power * inside,
        "int_depreciation_usd": dep * inside,
        "int_opex_usd": fixed * inside,
        "int_selling_cost_usd": np.zeros_like(revenue),
    }
    out.update(lines)
    tax_rate, shares = _a(x, "tax_rate"), _a(x, "diluted_shares")
    for seg in SEGMENTS:
        costs = sum(out[f"{seg}_{k}"] for k in SEGMENT_LINES[1:5])
        oi = out[f"{seg}_revenue_or_value_usd"] - costs
        out[f"{seg}_operating_income_usd"] = oi
        out[f"{seg}_tax_usd"] = tax_rate * oi
        out[f"{seg}_net_income_usd"] = oi - out[f"{seg}_tax_usd"]
        out[f"{seg}_eps_usd"] = out[f"{seg}_net_income_usd"] / shares
    for line in ("power_cost_usd", "depreciation_usd"):
        out[line] = out[f"ext_{line}"] + out[f"int_{line}"]
    out["opex_usd"] = out["ext_opex_usd"] + out["int_opex_usd"]
    out["selling_cost_usd"] = out["ext_selling_cost_usd"]
    oi = out["ext_operating_income_usd"] + out["int_operating_income_usd"]
    out["operating_income_usd"] = oi
    earned = revenue + out["internal_value_usd"]
    safe = np.where(earned > 0, earned, 1.0)
    with np.errstate(over="ignore"):  # a vanishing revenue has an unbounded margin
        out["operating_margin"] = np.where(earned > 0, oi / safe, 0.0)
    out["tax_usd"] = tax_rate * oi
    out["net_income_usd"] = oi - out["tax_usd"]
    out["eps_uplift_usd"] = out["net_income_usd"] / shares


def horizon_years(x: Inputs) -> int:
    """Years of operation modelled: the asset life rounded up (the last year may be partial)."""
    return max(1, int(np.ceil(float(np.max(_a(x, "life_years"))) - 1e-9)))


def _year(
    x: Inputs, st: Structure, a: Mapping[str, FloatArray], year: int
) -> dict[str, FloatArray]:
    """One year's lines (per draw). See :func:`yearly` for the rules."""
    life = _a(x, "life_years")
    op = np.clip(life - (year - 1.0), 0.0, 1.0)
    ramp = st.ramp[year - 1] if year <= len(st.ramp) else 1.0
    decline = (1.0 - _a(x, "price_decline_per_year")) ** (year - 1.0)
    in_term = np.clip(_a(x, "lease_term_years") - (year - 1.0), 0.0, 1.0)
    sold = (a["revenue_gpu_hours_usd"] + a["revenue_tokens_usd"]) * op * ramp * decline
    revenue = sold + a["revenue_lease_usd"] * op * in_term
    # leased GPUs revert to the internal wheel when the lease term ends
    reverted = a["external_gpus"] * _a(x, "share_lease") * (1.0 - in_term)
    if np.any(reverted > 0):
        kept_value = internal_value(x, a["internal_gpus"] + reverted, a["gpus"])
    else:
        kept_value = a["internal_value_usd"]
    value = kept_value * op * ramp
    power = a["power_cost_usd"] * op
    full = _a(x, "full_basis")
    depreciation = full * a["capex_usd"] / life * op
    fixed = a["opex_fixed_usd"] * op
    variable = (_a(x, "opex_pct_revenue") + _a(x, "selling_cost_pct_revenue")) * revenue
    margin = _a(x, "operating_margin")
    stated = np.isfinite(margin)
    gpus = np.where(a["gpus"] > 0, a["gpus"], 1.0)
    kept_share = (a["internal_gpus"] + reverted) / gpus
    # a stated margin covers the sold wheel's costs, its depreciation included
    power_line = np.where(stated, power * kept_share, power)
    stated_costs = (1.0 - np.where(stated, margin, 0.0)) * revenue + (
        power + fixed + depreciation
    ) * kept_share
    costs = np.where(stated, stated_costs, power + depreciation + fixed + variable)
    oi = revenue + value - costs
    tax = _a(x, "tax_rate") * oi
    return {
        "revenue_usd": revenue,
        "internal_value_usd": value,
        "power_cost_usd": power_line,
        "depreciation_usd": depreciation,
        "opex_usd": costs - power_line - depreciation,
        "operating_income_usd": oi,
        "tax_usd": tax,
        "net_income_usd": oi - tax,
        "cash_flow_usd": oi - tax + depreciation,
        "operating_fraction": op + np.zeros_like(oi),
    }


def yearly(
    x: Inputs, st: Structure, base: Mapping[str, FloatArray] | None = None
) -> dict[str, FloatArray]:
    """Cash flows over the asset life; yearly arrays have a trailing axis of years.

    Prices of GPU-hours and tokens fall by ``price_decline_per_year`` a year (leases are
    contracted and keep their price until ``lease_term_years``, when the leased GPUs revert to
    the internal wheel); utilisation follows the ramp, for both wheels; the internal wheel's
    value per GPU-hour does not decline; the last year counts only its operating fraction (a
    5.5-year life runs half of year 6). Year 0 invests the capex on the full basis; on the
    incremental basis the capacity exists already and nothing is invested.
    """
    a = dict(base) if base is not None else annual(x, st)
    n_years = horizon_years(x)
    rows = [_year(x, st, a, y) for y in range(1, n_years + 1)]
    out = {k: np.stack([r[k] for r in rows], axis=-1) for k in rows[0]}
    years = np.arange(1, n_years + 1, dtype=np.float64)
    out["year"] = np.broadcast_to(years, out["cash_flow_usd"].shape)
    investment = -(_a(x, "full_basis") * a["capex_usd"])
    out["investment_usd"] = investment
    out["npv_usd"] = npv(investment, out["cash_flow_usd"], _a(x, "discount_rate"))
    return out


def npv_only(x: Inputs, st: Structure, base: Mapping[str, FloatArray] | None = None) -> FloatArray:
    """The ``npv_usd`` of :func:`yearly` without building the yearly arrays (Monte Carlo path).

    Without a stated margin or a lease term every yearly line is a per-draw amount times a
    yearly factor, so NPV = I + (1-t)[(1-c)(S A + L B) + V C - (P + F + D) B] + D B, with
    A, B, C the sums of discounted operating fractions x (ramp x price decline), x 1, x ramp
    (S sold revenue, L lease revenue, V internal value, c revenue-linked cost share). Otherwise
    the years are summed one by one.
    """
    a = base if base is not None else annual(x, st)
    stated = np.isfinite(_a(x, "operating_margin"))
    term = _a(x, "lease_term_years") < _a(x, "life_years")
    if np.any(stated) or np.any(term & (_a(x, "share_lease") > 0)):
        rate = _a(x, "discount_rate")
        total = -(_a(x, "full_basis") * a["capex_usd"])
        for year in range(1, horizon_years(x) + 1):
            cash = _year(x, st, a, year)["cash_flow_usd"]
            total = total + cash * (1.0 + rate) ** -float(year)
        return np.asarray(total, dtype=np.float64)
    life, rate = _a(x, "life_years"), _a(x, "discount_rate")
    growth = 1.0 - _a(x, "price_decline_per_year")
    sum_a: FloatArray = np.zeros(np.shape(life))
    sum_b: FloatArray = np.zeros(np.shape(life))
    sum_c: FloatArray = np.zeros(np.shape(life))
    price_factor: FloatArray | float = 1.0
    for year in range(1, horizon_years(x) + 1):
        op = np.clip(life - (year - 1.0), 0.0, 1.0)
        disc_op = op * (1.0 + rate) ** -float(year)
        ramp = st.ramp[year - 1] if year <= len(st.ramp) else 1.0
        sum_a = sum_a + disc_op * (ramp * price_factor)
        sum_b = sum_b + disc_op
        sum_c = sum_c + disc_op * ramp
        price_factor = price_factor * growth
    tax = _a(x, "tax_rate")
    linked = _a(x, "opex_pct_revenue") + _a(x, "selling_cost_pct_revenue")
    sold = a["revenue_gpu_hours_usd"] + a["revenue_tokens_usd"]
    depreciation = _a(x, "full_basis") * a["capex_usd"] / life
    operating = (1.0 - linked) * (sold * sum_a + a["revenue_lease_usd"] * sum_b)
    operating = operating + a["internal_value_usd"] * sum_c
    operating = operating - (a["power_cost_usd"] + a["opex_fixed_usd"] + depreciation) * sum_b
    investment = -(_a(x, "full_basis") * a["capex_usd"])
    return np.asarray(investment + (1.0 - tax) * operating + depreciation * sum_b, dtype=np.float64)


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


def payback_years(
    investment: FloatArray, cash: FloatArray, operating: FloatArray | None = None
) -> FloatArray:
    """Years until cumulative cash turns non-negative, interpolated within the year; a partial
    final year (``operating`` fraction < 1) spreads its cash over the months it runs, not over
    a whole year. 0 when nothing is invested, NaN when the investment is never recovered."""
    inv = np.asarray(investment, dtype=np.float64)
    op = np.ones_like(cash) if operating is None else np.asarray(operating, dtype=np.float64)
    cum = inv[..., None] + np.cumsum(cash, axis=-1)
    reached = cum >= 0
    k = np.argmax(reached, axis=-1)[..., None]
    before = np.take_along_axis(cum, np.maximum(k - 1, 0), axis=-1)[..., 0]
    before = np.where(k[..., 0] > 0, before, inv)
    flow = np.take_along_axis(cash, k, axis=-1)[..., 0]
    span = np.take_along_axis(op, k, axis=-1)[..., 0]
    frac = np.where(flow > 0, -before / np.where(flow > 0, flow, 1.0), 0.0) * span
    result = np.where(reached.any(axis=-1), k[..., 0] + frac, np.nan)
    return np.asarray(np.where(inv >= 0, 0.0, result), dtype=np.float64)
