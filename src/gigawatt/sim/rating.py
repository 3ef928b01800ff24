"""Revenue of a twin run through the live price book.

Live billing meters every job attempt into usage records (:func:`gigawatt.metering.meter_interval`,
one ``Decimal`` amount per record). A million-job run does not need a million records: the twin
sums GPU-seconds per ``(gpu_type, tier)`` and rates each total once at the same
:class:`~gigawatt.billing.prices.PriceBook` price. Both paths compute ``gpu_seconds x price /
3600``; they differ only by the rounding of each record to a millionth of a dollar (at most
half a micro-dollar per record), which tests check on small runs (:func:`rate_attempts`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from gigawatt.billing.prices import PriceBook
from gigawatt.core.money import ZERO, gpu_seconds_amount
from gigawatt.core.tiers import Tier
from gigawatt.metering import meter_interval
from gigawatt.sim.workload import TIERS, Workload

#: GPU-seconds keyed by ``(gpu_type, tier)``.
GpuSeconds = Mapping[tuple[str, Tier], float]


def gpu_seconds_by_key(workload: Workload, gpu_s: Iterable[float]) -> dict[tuple[str, Tier], float]:
    """Sum the per-job GPU-seconds by ``(gpu_type, tier)`` (``math.fsum``: no drift)."""
    parts: dict[tuple[str, Tier], list[float]] = defaultdict(list)
    types = workload.gpu_types
    for g, t, s in zip(workload.gpu_type.tolist(), workload.tier.tolist(), gpu_s, strict=True):
        if s:
            parts[(types[g], TIERS[t])].append(s)
    return {key: math.fsum(v) for key, v in parts.items()}


def rate_totals(totals: GpuSeconds, prices: PriceBook) -> dict[Tier, Decimal]:
    """Amount by tier: each ``(gpu_type, tier)`` total rated once at the price book's price."""
    out = {t: ZERO for t in TIERS}
    for (gpu_type, tier), seconds in sorted(totals.items()):
        out[tier] += gpu_seconds_amount(seconds, prices.price(gpu_type, tier))
    return out


def rate_attempts(
    workload: Workload,
    attempts: Iterable[tuple[int, int, float, float]],
    prices: PriceBook,
    kw_per_gpu: Mapping[str, float],
) -> dict[Tier, Decimal]:
    """Amount by tier the live way: one :func:`meter_interval` call per job attempt."""
    out = {t: ZERO for t in TIERS}
    for i, attempt, start, end in attempts:
        gpu_type = workload.gpu_types[int(workload.gpu_type[i])]
        tier = TIERS[int(workload.tier[i])]
        for record in meter_interval(
            str(i),
            attempt,
            workload.tenants[int(workload.tenant[i])],
            gpu_type,
            tier,
            int(workload.gpus[i]),
            start,
            end,
            prices,
            kw_per_gpu[gpu_type],
        ):
            out[tier] += record.amount_usd
    return out
