"""Documented defaults of the economics engine, each with its source, and the allowed ranges.

With no preset and no scenario file, ``gigawatt value`` uses exactly these values. Numbers from
the facts gathered in issue 2 cite them; Gigawatt's own guesses say ``estimate``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

#: Hours in a (non-leap) year: the unit of every annual figure.
HOURS_PER_YEAR: Final = 8760.0

#: ``field: (default value, source)``. A value of ``None`` means "taken from the GPU catalogue".
DEFAULTS: Final[MappingProxyType[str, tuple[Any, str]]] = MappingProxyType(
    {
        "power_mw": (1000.0, "default: 1 GW, the unit of the question"),
        "power_basis": ("facility", "default: power as drawn from the grid; PUE converts to IT"),
        "pue": (
            1.2,
            "estimate: between new liquid-cooled builds (1.05-1.15) and the industry "
            "average of about 1.58 (Uptime 2024)",
        ),
        "gpu": ("GB200", "default: the current rack-scale generation"),
        "gpu_mix": (None, "default: a single GPU type"),
        "kw_per_gpu": (None, "GPU catalogue (all-in IT kW per GPU)"),
        "capex_per_gpu_usd": (None, "GPU catalogue (installed cost per GPU)"),
        "tokens_per_second": (None, "GPU catalogue (output tokens/s per GPU)"),
        "price_per_gpu_hour": (None, "derived: tier mix x tier prices"),
        "tier_mix": (
            MappingProxyType({"reserved": 0.7, "on_demand": 0.2, "spot": 0.1}),
            "estimate: a mostly contracted fleet with some on-demand and spot",
        ),
        "tier_prices": (MappingProxyType({}), "GPU catalogue (default price per tier)"),
        "utilization": (0.85, "estimate: billed share of hours for a mostly contracted fleet"),
        "internal_share": (0.0, "default: all capacity sold externally"),
        "internal_value_per_gpu_hour": (None, "GPU catalogue (internal transfer price)"),
        "internal_utilization": (None, "default: the fleet's utilization"),
        "internal_value_elasticity": (1.0, "default: 1, value linear in the GPUs kept"),
        "internal_reference_gpus": (None, "default: all GPUs of the scenario"),
        "external_reference_gpus": (None, "default: all GPUs of the scenario"),
        "price_premium_when_scarce": (0.0, "default: 0, a flat external price"),
        "selling_cost_pct_revenue": (
            0.0,
            "default: 0, selling costs (sales, support, SLA credits, managed services) "
            "already in opex_pct_revenue",
        ),
        "operating_margin": (None, "default: costs built up from power, opex and capex"),
        "lease_term_years": (None, "default: leases run for the whole asset life"),
        "lease_basis": ("it", "default: lease prices are per watt of IT power"),
        "year": (None, "default: no fiscal year named"),
        "fiscal_years": (MappingProxyType({}), "default: no fiscal-year table"),
        "platform_pe": (
            25.0,
            "estimate: large ad platforms trade near 20-30x earnings; Meta about 26x in "
            "Jan 2026 ($620.25 / FY2025 diluted EPS $23.49)",
        ),
        "cloud_pe": (
            20.0,
            "estimate: Oracle, the largest listed AI-infrastructure supplier with earnings, "
            "traded near 43x forward earnings in Sep 2025 (juniorstocks.com, 'Oracle's "
            "Valuation Outpaces Nvidia as Bubble Talk Returns', Sep 2025) against a 10-year "
            "average P/E of about 27 (ainvest.com, 'Oracle stock valuation: dot-com revival "
            "or bubble warning', Sep 2025); pure AI clouds (CoreWeave, Nebius) report losses, "
            "so no P/E. 20x prices contract-backed, capital-intensive hosting earnings below "
            "Oracle's average",
        ),
        "base_net_income": (0.0, "default: 0, the capacity valued alone (no base company)"),
        "base_pe": (0.0, "default: 0, no base company"),
        "rerating_at_full_sale": (0.0, "default: 0, the market does not re-rate the platform"),
        "share_price": (None, "default: none (needed only for --observed-price-move)"),
        "observed_price_move": (None, "default: none"),
        "optimize": (None, "default: value the split as given"),
        "objective": ("equity_value", "default: equity value (what the market pays)"),
        "correlation": (None, "default: inputs drawn independently"),
        "sales_mix": (
            MappingProxyType({"gpu_hours": 1.0}),
            "default: all external capacity sold by the GPU-hour",
        ),
        "token_price_per_million": (
            0.88,
            "Llama-3.3-70B about $0.88 per million tokens (2026, docs/sources.md)",
        ),
        "lease_price_per_watt_year": (
            15.0,
            "neocloud CEO: about $15M per MW-year for IaaS (docs/sources.md)",
        ),
        "load_factor": (0.8, "estimate: average draw of a busy fleet relative to IT nameplate"),
        "power_price_per_mwh": (79.0, "US industrial about $79/MWh (Ohio, 2025; docs/sources.md)"),
        "capex_per_gw": (None, "default: per-GPU capex plus facility capex per MW"),
        "facility_capex_per_mw": (
            17_400_000.0,
            "estimate from Bernstein: $2.5M facility per GB200 NVL72 rack of about 0.144 MW "
            "all-in IT power",
        ),
        "life_years": (5.0, "Amazon 5 years (Meta 5.5, Microsoft and Google 6; docs/sources.md)"),
        "opex_per_mw_year": (
            1_000_000.0,
            "estimate: staff, maintenance, network and insurance per MW of IT power",
        ),
        "opex_pct_revenue": (0.10, "estimate: sales, support and payments of a cloud business"),
        "tax_rate": (0.21, "US federal statutory corporate tax rate"),
        "diluted_shares": (None, "default: no share count, so no EPS (set --shares)"),
        "cost_basis": ("full", "default: a new build carries its own depreciation"),
        "discount_rate": (0.09, "estimate: cost of capital of a large technology company"),
        "price_decline_per_year": (0.10, "estimate: GPU rental prices fall as generations age"),
        "utilization_ramp": ((), "default: target utilisation from year 1"),
        "ranges": (MappingProxyType({}), "default tornado ranges (estimate)"),
        "uncertainty": (
            MappingProxyType({}),
            "default: triangular over each tornado range (estimate)",
        ),
    }
)

#: The allowed range of each field, as error messages state it.
ALLOWED: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "name": "any text",
        "description": "any text",
        "power_mw": "a power greater than 0 such as 250MW, 1GW or 1.5GW",
        "power_basis": "facility or it",
        "pue": "a number >= 1",
        "gpu": "a GPU type in the catalogue",
        "gpu_mix": "GPU types from the catalogue with power shares in [0, 1] adding up to 1",
        "kw_per_gpu": "a number > 0",
        "capex_per_gpu_usd": "a number >= 0",
        "tokens_per_second": "a number >= 0",
        "price_per_gpu_hour": "a number >= 0",
        "tier_mix": "shares in [0, 1] of reserved, on_demand and spot adding up to 1",
        "tier_prices": "prices >= 0 for tiers internal, reserved, on_demand, spot",
        "utilization": "a number in [0, 1]",
        "internal_share": "a number in [0, 1]",
        "internal_value_per_gpu_hour": "a number >= 0",
        "internal_utilization": "a number in [0, 1]",
        "internal_value_elasticity": "a number in (0, 1]",
        "internal_reference_gpus": "a number > 0",
        "external_reference_gpus": "a number > 0",
        "price_premium_when_scarce": "a number >= 0",
        "selling_cost_pct_revenue": "a number in [0, 1]",
        "operating_margin": "a number in (-1, 1), such as 0.35 or 35%",
        "lease_term_years": "a number > 0, at most life_years",
        "lease_basis": "it or facility",
        "year": "a fiscal year such as 2026",
        "fiscal_years": "year: {diluted_shares, tax_rate, net_income, source}",
        "platform_pe": "a number >= 0",
        "cloud_pe": "a number >= 0",
        "base_net_income": "a number (USD)",
        "base_pe": "a number >= 0",
        "rerating_at_full_sale": "a change in the P/E multiple, such as -2 or 1.5",
        "share_price": "a number > 0 (USD)",
        "observed_price_move": "a fraction greater than -1, such as -3% or 0.02",
        "optimize": "internal_share",
        "objective": "eps, npv or equity_value",
        "correlation": "{inputs: [names], matrix: symmetric positive semi-definite, unit diagonal}",
        "sales_mix": "shares in [0, 1] of gpu_hours, tokens and lease adding up to 1",
        "token_price_per_million": "a number >= 0",
        "lease_price_per_watt_year": "a number >= 0",
        "load_factor": "a number in [0, 1]",
        "power_price_per_mwh": "a number >= 0",
        "capex_per_gw": "a number >= 0",
        "facility_capex_per_mw": "a number >= 0",
        "life_years": "a number in (0, 50]",
        "opex_per_mw_year": "a number >= 0",
        "opex_pct_revenue": "a number in [0, 1]",
        "tax_rate": "a number in [0, 1]",
        "diluted_shares": "a number > 0",
        "cost_basis": "incremental or full",
        "discount_rate": "a number in (-1, 1]",
        "price_decline_per_year": "a number in [0, 1)",
        "utilization_ramp": "a list of numbers in [0, 1] (fraction of target utilisation by year)",
        "ranges": "input name: [low, high] with low <= high",
        "uncertainty": "input name: {dist: uniform|triangular|normal|lognormal, ...}",
        "sources": "field: source text",
    }
)


def default_value(field: str) -> Any:
    """The documented default of ``field``."""
    return DEFAULTS[field][0]


def default_source(field: str) -> str:
    """Where the default of ``field`` comes from."""
    return DEFAULTS[field][1]
