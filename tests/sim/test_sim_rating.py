"""Revenue: the aggregated rating equals the live per-record rating (meter_interval) on a run."""

from __future__ import annotations

from decimal import Decimal

from sim_helpers import make_twin, two_site_fleet

from gigawatt.billing.prices import PriceBook
from gigawatt.core.catalogue import Catalogue
from gigawatt.core.money import round_cents
from gigawatt.core.tiers import Tier
from gigawatt.sim.generator import generate
from gigawatt.sim.metrics import summarise
from gigawatt.sim.rating import gpu_seconds_by_key, rate_attempts, rate_totals
from gigawatt.sim.workload_file import parse_workload

SPEC = {
    "name": "rated",
    "days": 1,
    "load": 1.2,
    "restart": "checkpoint",
    "checkpoint_interval_s": 900,
    "failures": {"mtbf_gpu_hours": 5000},
    "classes": [
        {
            "name": t,
            "tier": t,
            "share": 0.25,
            "sizes": {1: 0.6, 4: 0.2, 8: 0.2},
            "durations": {"lognormal": {"median_s": 1800, "sigma": 1.0}},
            "diurnal": "flat",
            **({"gpu_type": "B200"} if t == "reserved" else {}),
        }
        for t in ("internal", "reserved", "on_demand", "spot")
    ],
}


def test_aggregated_rating_equals_per_record_rating(catalogue: Catalogue) -> None:
    fleet = two_site_fleet()
    w = generate(parse_workload(SPEC), fleet, catalogue, seed=11)
    twin, _ = make_twin(w, fleet, catalogue, record_attempts=True)
    end = twin.run(horizon_s=86400.0)
    prices = PriceBook.from_catalogue(catalogue)
    assert twin.attempts is not None and twin.preemptions > 0
    kw = {g: catalogue.get(g).it_kw_per_gpu for g in w.gpu_types}
    live = rate_attempts(w, twin.attempts, prices, kw)
    fast = rate_totals(gpu_seconds_by_key(w, twin.gpu_s), prices)
    records = len(twin.attempts)
    for tier in Tier:
        assert live[tier] > 0
        # each record is rounded to a micro-dollar: the paths differ by < 0.5 µ$ per record
        assert abs(live[tier] - fast[tier]) <= Decimal("0.000001") * records
        assert round_cents(live[tier]) == round_cents(fast[tier])
    result = summarise(twin, end, prices, wall_s=1.0)
    for tier in ("reserved", "on_demand", "spot"):
        assert result.summary["revenue_usd_by_tier"][tier] == float(round_cents(fast[Tier(tier)]))
    assert result.summary["internal_showback_usd"] == float(round_cents(fast[Tier.INTERNAL]))
