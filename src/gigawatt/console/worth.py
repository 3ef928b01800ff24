"""What the live fleet is worth: metered usage over a window, run through the economics engine.

:func:`measure` reads the usage records that overlap the window (clipped to it) and the fleet
now; :func:`value_measurement` (pure) turns that measurement into two economics scenarios,
the fleet as it is and the same policy on a gigawatt of IT power, and evaluates both; for the
fleet it adds the sell-or-keep split that maximises NPV, and its frontier.

Measured inputs: utilisation = metered GPU-seconds / (GPUs x window seconds); internal share =
the internal tier's share of metered GPU-seconds; tier mix = shares of the sold tiers; price
per GPU-hour of each tier = what metering charged for it (the price book where nothing ran).
Everything else (power price, capex, opex, tax) is the economics engine's default; sales are
GPU-hours only (inference tokens are metered separately and not valued here).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.economics import Scenario, build_scenario, evaluate
from gigawatt.economics.allocation import allocate
from gigawatt.economics.evaluate import PNL_KEYS
from gigawatt.economics.resolve import resolve
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.models import UsageRecordModel

GIGAWATT_MW = 1000.0
SOLD_TIERS = (Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT)
MAX_WINDOW_H = 24 * 366


@dataclass(frozen=True)
class Measurement:
    """Metered usage of the fleet over one window (GPU-seconds and dollars by tier)."""

    since: float
    until: float
    gpus_by_type: dict[str, int]
    kw_per_gpu: dict[str, float]
    gpu_seconds_by_tier: dict[str, float] = field(default_factory=dict)
    amount_usd_by_tier: dict[str, Decimal] = field(default_factory=dict)

    @property
    def window_s(self) -> float:
        """Length of the window in seconds."""
        return self.until - self.since

    @property
    def gpus(self) -> int:
        """GPUs in the fleet."""
        return sum(self.gpus_by_type.values())

    @property
    def it_power_mw(self) -> float:
        """All-in IT power of the fleet's GPUs."""
        return math.fsum(n * self.kw_per_gpu[t] for t, n in self.gpus_by_type.items()) / 1000


def measure(platform: Platform, window_h: float, now: float) -> Measurement:
    """Usage records overlapping ``[now - window_h, now]``, each clipped to the window."""
    if not 0 < window_h <= MAX_WINDOW_H:
        raise InvalidInput(f"window_h must be in (0, {MAX_WINDOW_H}]", "window_h")
    since = now - window_h * 3600
    gpus: dict[str, int] = defaultdict(int)
    for node in platform.state.nodes.values():
        gpus[node.gpu_type] += node.gpus
    seconds: dict[str, float] = defaultdict(float)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    query = select(
        UsageRecordModel.tier,
        UsageRecordModel.start_ts,
        UsageRecordModel.end_ts,
        UsageRecordModel.gpu_seconds,
        UsageRecordModel.amount_usd,
    ).where(UsageRecordModel.end_ts > since, UsageRecordModel.start_ts < now)
    with transaction(platform.sessions) as s:
        for tier, start, end, gpu_s, amount in s.execute(query):
            span = end - start
            share = 1.0 if span <= 0 else (min(end, now) - max(start, since)) / span
            seconds[tier] += gpu_s * share
            amounts[tier] += amount * Decimal(repr(share))
    return Measurement(
        since=since,
        until=now,
        gpus_by_type=dict(gpus),
        kw_per_gpu={t: platform.kw_per_gpu(t) for t in gpus},
        gpu_seconds_by_tier=dict(seconds),
        amount_usd_by_tier={t: a.quantize(Decimal("0.000001")) for t, a in amounts.items()},
    )


def _shares(values: dict[str, float]) -> dict[str, float]:
    total = math.fsum(values.values())
    return {k: v / total for k, v in values.items()} if total > 0 else {}


def measured_inputs(m: Measurement) -> dict[str, Any]:
    """The scenario inputs metering gives (utilisation, internal share, tier mix, prices)."""
    used = math.fsum(m.gpu_seconds_by_tier.values())
    capacity = m.gpus * m.window_s
    sold = {t.value: m.gpu_seconds_by_tier.get(t.value, 0.0) for t in SOLD_TIERS}
    prices = {
        tier: float(m.amount_usd_by_tier.get(tier, Decimal(0))) / (gpu_s / 3600)
        for tier, gpu_s in m.gpu_seconds_by_tier.items()
        if gpu_s > 0
    }
    return {
        "utilization": min(1.0, used / capacity) if capacity > 0 else 0.0,
        "internal_share": m.gpu_seconds_by_tier.get(Tier.INTERNAL.value, 0.0) / used
        if used > 0
        else 0.0,
        "tier_mix": {k: v for k, v in _shares(sold).items() if v > 0},
        "tier_prices": prices,
    }


def _scenario(
    m: Measurement, inputs: dict[str, Any], power_mw: float, name: str, catalogue: Catalogue | None
) -> Scenario:
    total_kw = m.it_power_mw * 1000
    data: dict[str, Any] = {
        "name": name,
        # a hair above the fleet's draw, so whole-GPU sizing gives back its exact count
        "power_mw": power_mw * (1 + 1e-9),
        "power_basis": "it",
        "utilization": inputs["utilization"],
        "internal_share": inputs["internal_share"],
        "sales_mix": {"gpu_hours": 1.0},
        "tier_prices": {
            Tier(t): p for t, p in inputs["tier_prices"].items() if Tier(t) in SOLD_TIERS
        },
    }
    if inputs["tier_mix"]:
        data["tier_mix"] = {Tier(t): s for t, s in inputs["tier_mix"].items()}
    if len(m.gpus_by_type) == 1:
        (gpu,) = m.gpus_by_type
        data.update(gpu=gpu, kw_per_gpu=m.kw_per_gpu[gpu])
    else:
        data["gpu_mix"] = {
            t: n * m.kw_per_gpu[t] / total_kw for t, n in sorted(m.gpus_by_type.items())
        }
    return build_scenario(data, catalogue)


def _pnl(scenario: Scenario, catalogue: Catalogue | None) -> dict[str, float | None]:
    result = evaluate(scenario, catalogue)
    keys = (*PNL_KEYS, "gpus", "it_power_mw", "gpu_hours_billed")
    values = {k: float(result.annual[k]) for k in keys if k in result.annual}
    return {k: (None if math.isnan(v) else v) for k, v in values.items()}


#: Internal shares shown from the sell-or-keep frontier (every 10%).
FRONTIER_STEP = 10


def sell_or_keep(scenario: Scenario, catalogue: Catalogue | None) -> dict[str, Any]:
    """The economics engine's best split of ``scenario`` between selling and keeping (by NPV
    over the asset life), its break-even internal value and the frontier every 10%."""
    best = allocate(resolve(scenario, catalogue), "npv")

    def clean(v: float) -> float | None:
        return None if math.isnan(v) else v

    return {
        "objective": "npv",
        "optimal_internal_share": best.optimal_internal_share,
        "npv_usd": best.objective_value,
        "break_even_internal_value_per_gpu_hour": best.break_even_internal_value_per_gpu_hour,
        "frontier": [
            {k: clean(v) for k, v in point.items() if k != "eps_usd"}
            for point in best.frontier[::FRONTIER_STEP]
        ],
    }


def value_measurement(m: Measurement, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The worth document of ``GET /v1/worth`` for one measurement (pure)."""
    inputs = measured_inputs(m)
    used = math.fsum(m.gpu_seconds_by_tier.values())
    metered = sum(m.amount_usd_by_tier.values(), Decimal(0))
    year_s = 365 * 24 * 3600.0
    doc: dict[str, Any] = {
        "window_h": m.window_s / 3600,
        "since": m.since,
        "until": m.until,
        "measured": {
            "gpus": m.gpus,
            "gpus_by_type": m.gpus_by_type,
            "it_power_mw": m.it_power_mw,
            "capacity_gpu_hours": m.gpus * m.window_s / 3600,
            "used_gpu_hours": used / 3600,
            "gpu_hours_by_tier": {t: s / 3600 for t, s in sorted(m.gpu_seconds_by_tier.items())},
            "amount_usd_by_tier": {t: str(a) for t, a in sorted(m.amount_usd_by_tier.items())},
            "metered_revenue_usd": str(metered),
            "annualised_metered_revenue_usd": float(metered) * year_s / m.window_s
            if m.window_s > 0
            else 0.0,
            **inputs,
        },
        "fleet": None,
        "gigawatt": None,
        "sell_or_keep": None,
    }
    if m.gpus > 0:
        fleet = _scenario(m, inputs, m.it_power_mw, "this fleet", catalogue)
        doc["fleet"] = _pnl(fleet, catalogue)
        doc["sell_or_keep"] = sell_or_keep(fleet, catalogue)
        gigawatt = _scenario(m, inputs, GIGAWATT_MW, "one gigawatt", catalogue)
        doc["gigawatt"] = _pnl(gigawatt, catalogue)
    return doc
