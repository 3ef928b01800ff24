"""Plausibility warnings: inputs that are allowed but imply a figure the market does not pay.

Selling by the token implies a price per GPU-hour (tokens/s x 3,600 x price per token); when that
leaves the catalogue's market range for the fleet's GPUs (its lowest to highest external tier
price) the answer rests on an implausible throughput or token price, and the run says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gigawatt.core.catalogue import Catalogue, default_catalogue
from gigawatt.core.tiers import Tier
from gigawatt.economics.model import FloatArray
from gigawatt.economics.resolve import Resolved
from gigawatt.economics.scenario import EXTERNAL_TIERS


def market_range(r: Resolved, catalogue: Catalogue | None = None) -> tuple[float, float]:
    """Lowest and highest external tier price per GPU-hour in the catalogue for the GPU mix."""
    cat = catalogue or default_catalogue()
    shares = r.structure.power_shares
    prices: list[float] = []
    for tier in EXTERNAL_TIERS:
        weighted = sum(
            share * float(cat.get(name).price(Tier(tier)))
            for name, share in zip(r.gpu_types, shares, strict=True)
        )
        prices.append(weighted)
    return min(prices), max(prices)


def implied_token_price_per_gpu_hour(r: Resolved) -> float:
    """What a GPU-hour earns sold as tokens (before any scarcity premium)."""
    x = r.inputs
    return x["tokens_per_second"] * 3600.0 * x["token_price_per_million"] / 1e6


def scenario_warnings(
    r: Resolved, base: Mapping[str, FloatArray], catalogue: Catalogue | None = None
) -> list[str]:
    """One line per implausible figure in the run (empty when nothing stands out)."""
    out: list[str] = []
    if r.inputs["share_tokens"] > 0 and float(np.asarray(base["external_gpus"])) > 0:
        implied = implied_token_price_per_gpu_hour(r)
        low, high = market_range(r, catalogue)
        if not low <= implied <= high:
            out.append(
                f"selling tokens implies ${implied:,.2f} per GPU-hour "
                f"({r.inputs['tokens_per_second']:,.0f} tokens/s x "
                f"${r.inputs['token_price_per_million']:,.2f} per million), outside the "
                f"catalogue's market range ${low:,.2f}-${high:,.2f} for {', '.join(r.gpu_types)}; "
                "check tokens_per_second and token_price_per_million"
            )
    if not np.isfinite(r.inputs["diluted_shares"]):
        out.append("no share count: EPS is not reported (set --shares)")
    return out
