"""Turn a :class:`Scenario` plus the GPU catalogue into model inputs and a list of assumptions.

This is where catalogue defaults fill the gaps (kW per GPU, capex, tokens/s, tier prices),
the tier mix becomes one blended price, and every value used is recorded with its source.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gigawatt.core.catalogue import Catalogue, GpuSpec, default_catalogue
from gigawatt.core.tiers import Tier
from gigawatt.economics.model import Structure
from gigawatt.economics.scenario import Scenario

#: ``name -> {"value": ..., "source": ...}`` as reported under ``assumptions``.
Assumptions = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Resolved:
    """A scenario ready for the vectorised model."""

    scenario: Scenario
    inputs: dict[str, float]
    structure: Structure
    gpu_types: tuple[str, ...]
    tier_prices: dict[Tier, float]
    assumptions: Assumptions = field(default_factory=dict)


def _weighted(specs: list[GpuSpec], weights: list[float], value: Any) -> float:
    return math.fsum(w * float(value(s)) for s, w in zip(specs, weights, strict=True))


def resolve(scenario: Scenario, catalogue: Catalogue | None = None) -> Resolved:
    """Model inputs, structure and sourced assumptions for ``scenario``."""
    cat = catalogue or default_catalogue()
    mix = scenario.gpu_types
    names = list(mix)
    specs = [cat.get(n) for n in names]
    shares = [mix[n] for n in names]
    kws = [scenario.kw_per_gpu or s.it_kw_per_gpu for s in specs]
    density = [sh / kw for sh, kw in zip(shares, kws, strict=True)]  # GPUs per kW of IT power
    kw_avg = 1.0 / math.fsum(density)
    weights = [d * kw_avg for d in density]  # each type's fraction of the GPUs
    kw_rel = (1.0,) if len(names) == 1 else tuple(kw / kw_avg for kw in kws)
    kw_fleet = kws[0] if len(names) == 1 else kw_avg

    tier_prices = {
        t: scenario.tier_prices.get(t, _weighted(specs, weights, lambda s, t=t: s.price(t)))
        for t in Tier
    }
    blended = math.fsum(share * tier_prices[t] for t, share in scenario.tier_mix.items())
    price = scenario.price_per_gpu_hour if scenario.price_per_gpu_hour is not None else blended
    per_gw = scenario.capex_per_gw
    fiscal = fiscal_figures(scenario)
    inputs: dict[str, float] = {
        "power_mw": scenario.power_mw,
        "facility_basis": 1.0 if scenario.power_basis == "facility" else 0.0,
        "pue": scenario.pue,
        "kw_per_gpu": kw_fleet,
        "price_per_gpu_hour": price,
        "utilization": scenario.utilization,
        "internal_share": scenario.internal_share,
        "internal_value_per_gpu_hour": (
            scenario.internal_value_per_gpu_hour
            if scenario.internal_value_per_gpu_hour is not None
            else tier_prices[Tier.INTERNAL]
        ),
        "internal_utilization": (
            scenario.internal_utilization if scenario.internal_utilization is not None else -1.0
        ),
        "internal_value_elasticity": scenario.internal_value_elasticity,
        "internal_reference_gpus": scenario.internal_reference_gpus or 0.0,
        "external_reference_gpus": scenario.external_reference_gpus or 0.0,
        "price_premium_when_scarce": scenario.price_premium_when_scarce,
        "share_gpu_hours": scenario.sales_mix.get("gpu_hours", 0.0),
        "share_tokens": scenario.sales_mix.get("tokens", 0.0),
        "share_lease": scenario.sales_mix.get("lease", 0.0),
        "tokens_per_second": (
            scenario.tokens_per_second
            if scenario.tokens_per_second is not None
            else _weighted(specs, weights, lambda s: s.tokens_per_second)
        ),
        "token_price_per_million": scenario.token_price_per_million,
        "lease_price_per_watt_year": scenario.lease_price_per_watt_year,
        "lease_facility_basis": 1.0 if scenario.lease_basis == "facility" else 0.0,
        "lease_term_years": (
            scenario.lease_term_years if scenario.lease_term_years is not None else math.inf
        ),
        "load_factor": scenario.load_factor,
        "power_price_per_mwh": scenario.power_price_per_mwh,
        "capex_per_gw": per_gw if per_gw is not None else 0.0,
        "capex_per_gpu_usd": 0.0
        if per_gw is not None
        else _capex_per_gpu(scenario, specs, weights),
        "facility_capex_per_mw": 0.0 if per_gw is not None else scenario.facility_capex_per_mw,
        "life_years": scenario.life_years,
        "opex_per_mw_year": scenario.opex_per_mw_year,
        "opex_pct_revenue": scenario.opex_pct_revenue,
        "selling_cost_pct_revenue": scenario.selling_cost_pct_revenue,
        "operating_margin": (
            scenario.operating_margin if scenario.operating_margin is not None else math.nan
        ),
        "tax_rate": fiscal["tax_rate"][0],
        "diluted_shares": fiscal["diluted_shares"][0],
        "full_basis": 1.0 if scenario.cost_basis == "full" else 0.0,
        "discount_rate": scenario.discount_rate,
        "price_decline_per_year": scenario.price_decline_per_year,
        "platform_pe": scenario.platform_pe,
        "cloud_pe": scenario.cloud_pe,
        "base_net_income": scenario.base_net_income,
        "base_pe": scenario.base_pe,
        "rerating_at_full_sale": scenario.rerating_at_full_sale,
    }
    structure = Structure(tuple(shares), kw_rel, tuple(scenario.utilization_ramp))
    resolved = Resolved(scenario, inputs, structure, tuple(names), tier_prices)
    resolved.assumptions.update(_assumptions(resolved, specs, fiscal))
    return resolved


def fiscal_figures(s: Scenario) -> dict[str, tuple[float, str]]:
    """Tax rate and share count used, with their sources: a flag wins, then the ``--year``
    entry of ``fiscal_years``, then the scenario's own value. No share count gives NaN
    (EPS is then reported as unavailable, never divided by a placeholder)."""
    entry = s.fiscal_years.get(s.year) if s.year is not None else None
    out: dict[str, tuple[float, str]] = {}
    for name in ("tax_rate", "diluted_shares"):
        own = getattr(s, name)
        from_flag = s.source_of(name).startswith("command line")
        fiscal = getattr(entry, name) if entry is not None else None
        if fiscal is not None and not from_flag:
            src = (entry.source if entry is not None else "") or s.source_of("fiscal_years")
            out[name] = (float(fiscal), f"fiscal year {s.year}: {src}")
        elif own is not None:
            out[name] = (float(own), s.source_of(name))
        else:
            out[name] = (math.nan, s.source_of(name))
    return out


def _capex_per_gpu(scenario: Scenario, specs: list[GpuSpec], weights: list[float]) -> float:
    if scenario.capex_per_gpu_usd is not None:
        return scenario.capex_per_gpu_usd
    return _weighted(specs, weights, lambda s: s.capex_per_gpu_usd)


def _catalogue_source(specs: list[GpuSpec], key: str) -> str:
    parts = [f"{s.name}: {s.sources.get(key, 'GPU catalogue')}" for s in specs]
    return "GPU catalogue; " + "; ".join(parts)


def _assumptions(
    r: Resolved, specs: list[GpuSpec], fiscal: dict[str, tuple[float, str]]
) -> Assumptions:
    """Every input used, with its source (preset, scenario file, flag, catalogue or default)."""
    s, x = r.scenario, r.inputs
    out: Assumptions = {}

    def put(name: str, value: Any, source: str | None = None) -> None:
        out[name] = {"value": value, "source": source or s.source_of(name)}

    def put_or_catalogue(name: str, value: Any, catalogue_key: str) -> None:
        given = getattr(s, name) is not None
        put(name, value, s.source_of(name) if given else _catalogue_source(specs, catalogue_key))

    put("power_mw", s.power_mw)
    put("power_basis", s.power_basis)
    put("pue", s.pue)
    if s.gpu_mix:
        put("gpu_mix", dict(s.gpu_mix))
    else:
        put("gpu", s.gpu)
    put_or_catalogue("kw_per_gpu", x["kw_per_gpu"], "it_kw_per_gpu")
    put("tier_mix", {str(t): v for t, v in s.tier_mix.items()})
    for tier in Tier:
        name = f"tier_prices.{tier}"
        given = tier in s.tier_prices
        src = s.source_of(name) if given else _catalogue_source(specs, f"price.{tier}")
        put(f"price_per_gpu_hour.{tier}", r.tier_prices[tier], src)
    price_src = (
        s.source_of("price_per_gpu_hour")
        if s.price_per_gpu_hour is not None
        else "derived: tier mix x tier prices"
    )
    put("price_per_gpu_hour", x["price_per_gpu_hour"], price_src)
    put("utilization", s.utilization)
    put("utilization_ramp", list(s.utilization_ramp))
    put("internal_share", s.internal_share)
    put_or_catalogue(
        "internal_value_per_gpu_hour", x["internal_value_per_gpu_hour"], "price.internal"
    )
    put("sales_mix", dict(s.sales_mix))
    if x["share_tokens"] > 0:
        put_or_catalogue("tokens_per_second", x["tokens_per_second"], "tokens_per_second")
        put("token_price_per_million", s.token_price_per_million)
    if x["share_lease"] > 0:
        put("lease_price_per_watt_year", s.lease_price_per_watt_year)
    put("load_factor", s.load_factor)
    put("power_price_per_mwh", s.power_price_per_mwh)
    if s.capex_per_gw is not None:
        put("capex_per_gw", s.capex_per_gw)
    else:
        put_or_catalogue("capex_per_gpu_usd", x["capex_per_gpu_usd"], "capex_per_gpu_usd")
        put("facility_capex_per_mw", s.facility_capex_per_mw)
    for name in ("life_years", "opex_per_mw_year", "opex_pct_revenue"):
        put(name, getattr(s, name))
    put("selling_cost_pct_revenue", s.selling_cost_pct_revenue)
    if s.operating_margin is not None:
        put("operating_margin", s.operating_margin)
    if s.year is not None:
        put("year", s.year)
    for name, (value, source) in fiscal.items():
        put(name, None if math.isnan(value) else value, source)
    for name in ("cost_basis", "discount_rate", "price_decline_per_year"):
        put(name, getattr(s, name))
    _wheel_assumptions(r, put)
    return out


def _wheel_assumptions(r: Resolved, put: Callable[..., None]) -> None:
    """The sell-or-keep inputs: internal value curve, scarcity premium, lease terms, multiples."""
    s = r.scenario
    put(
        "internal_utilization",
        s.internal_utilization if s.internal_utilization is not None else s.utilization,
    )
    put("internal_value_elasticity", s.internal_value_elasticity)
    put("internal_reference_gpus", s.internal_reference_gpus or "all GPUs")
    put("price_premium_when_scarce", s.price_premium_when_scarce)
    put("external_reference_gpus", s.external_reference_gpus or "all GPUs")
    if r.inputs["share_lease"] > 0:
        put("lease_basis", s.lease_basis)
        put("lease_term_years", s.lease_term_years or s.life_years)
    for name in ("platform_pe", "cloud_pe", "base_net_income", "base_pe"):
        put(name, getattr(s, name))
    put("rerating_at_full_sale", s.rerating_at_full_sale)
    if s.share_price is not None:
        put("share_price", s.share_price)
    if s.observed_price_move is not None:
        put("observed_price_move", s.observed_price_move)
