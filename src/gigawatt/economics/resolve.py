"""Turn a :class:`Scenario` plus the GPU catalogue into model inputs and a list of assumptions.

This is where catalogue defaults fill the gaps (kW per GPU, capex, tokens/s, tier prices),
the tier mix becomes one blended price, and every value used is recorded with its source.
"""

from __future__ import annotations

import math
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
        "tax_rate": scenario.tax_rate,
        "diluted_shares": scenario.diluted_shares,
        "full_basis": 1.0 if scenario.cost_basis == "full" else 0.0,
        "discount_rate": scenario.discount_rate,
        "price_decline_per_year": scenario.price_decline_per_year,
    }
    structure = Structure(tuple(shares), kw_rel, tuple(scenario.utilization_ramp))
    resolved = Resolved(scenario, inputs, structure, tuple(names), tier_prices)
    resolved.assumptions.update(_assumptions(resolved, specs))
    return resolved


def _capex_per_gpu(scenario: Scenario, specs: list[GpuSpec], weights: list[float]) -> float:
    if scenario.capex_per_gpu_usd is not None:
        return scenario.capex_per_gpu_usd
    return _weighted(specs, weights, lambda s: s.capex_per_gpu_usd)


def _catalogue_source(specs: list[GpuSpec], key: str) -> str:
    parts = [f"{s.name}: {s.sources.get(key, 'GPU catalogue')}" for s in specs]
    return "GPU catalogue; " + "; ".join(parts)


def _assumptions(r: Resolved, specs: list[GpuSpec]) -> Assumptions:
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
    for name in ("life_years", "opex_per_mw_year", "opex_pct_revenue", "tax_rate"):
        put(name, getattr(s, name))
    for name in ("diluted_shares", "cost_basis", "discount_rate", "price_decline_per_year"):
        put(name, getattr(s, name))
    return out
