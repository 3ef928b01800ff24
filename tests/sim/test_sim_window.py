"""The measured window: warm-up detection (auto, none, seconds) and GPU time clipped at the cut."""

from __future__ import annotations

import math

import pytest
from sim_helpers import jobs_workload, make_twin, two_site_fleet

from gigawatt.billing.prices import PriceBook
from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import uniform_fleet
from gigawatt.core.money import gpu_seconds_amount, round_cents
from gigawatt.core.tiers import Tier
from gigawatt.sim.generator import generate
from gigawatt.sim.metrics import summarise
from gigawatt.sim.timeline import build_timeline
from gigawatt.sim.window import gpu_seconds_from, parse_warmup, window_start_s
from gigawatt.sim.workload_file import parse_workload

#: Four 8-GPU jobs joining a 32-GPU fleet at 0, 1,000, 2,000 and 3,000 s, all ending at 20,000 s:
#: the allocation ramps 8 -> 16 -> 24 -> 32 GPUs, then stays at 32 (the steady level).
RAMP = [
    (0.0, 20_000.0, 8, Tier.RESERVED),
    (1_000.0, 19_000.0, 8, Tier.INTERNAL),
    (2_000.0, 18_000.0, 8, Tier.INTERNAL),
    (3_000.0, 17_000.0, 8, Tier.SPOT),
]


def _ramp_summary(catalogue: Catalogue, warmup: str | float) -> dict[str, object]:
    w = jobs_workload(RAMP)
    twin, _ = make_twin(w, uniform_fleet(32, "H100", catalogue), catalogue)
    end = twin.run()
    assert end == 20_000.0
    prices = PriceBook.from_catalogue(catalogue)
    return dict(summarise(twin, end, prices, wall_s=1.0, warmup=parse_warmup(warmup)).summary)


def test_auto_excludes_the_ramp_of_a_run_that_starts_empty(catalogue: Catalogue) -> None:
    s = _ramp_summary(catalogue, "auto")
    # second half mean = 32 GPUs; 95% of it (30.4) is first reached when the 4th job starts
    assert s["warmup_s"] == 3_000.0 and s["measured_s"] == 17_000.0
    assert s["utilization"] == pytest.approx(1.0)
    hours = s["gpu_hours_by_tier"]
    assert isinstance(hours, dict)
    assert hours["internal"] == pytest.approx(2 * 8 * 17_000 / 3600)
    assert hours["reserved"] == pytest.approx(8 * 17_000 / 3600)
    assert s["sim_days"] == pytest.approx(20_000 / 86400)  # the run itself is unchanged


def test_none_excludes_nothing(catalogue: Catalogue) -> None:
    s = _ramp_summary(catalogue, "none")
    assert s["warmup_s"] == 0.0 and s["measured_s"] == 20_000.0
    assert s["utilization"] == pytest.approx(8 * (20_000 + 19_000 + 18_000 + 17_000) / 640_000)
    assert s["internal_gpu_hours"] == pytest.approx(8 * (19_000 + 18_000) / 3600)


def test_explicit_seconds_clip_gpu_time_and_revenue_at_the_cut(catalogue: Catalogue) -> None:
    s = _ramp_summary(catalogue, 1_500)
    assert s["warmup_s"] == 1_500.0 and s["measured_s"] == 18_500.0
    # job 0 [0, 20000] and job 1 [1000, 20000] are clipped to [1500, 20000]
    gpu_s = 8 * (18_500 + 18_500 + 18_000 + 17_000)
    assert s["utilization"] == pytest.approx(gpu_s / (32 * 18_500))
    price = PriceBook.from_catalogue(catalogue).price("H100", Tier.RESERVED)
    revenue = s["revenue_usd_by_tier"]
    assert isinstance(revenue, dict)
    assert revenue["reserved"] == float(round_cents(gpu_seconds_amount(8 * 18_500, price)))
    # queueing figures cover jobs submitted in the window only (jobs 2 and 3)
    assert s["internal_jobs_measured"] == 1
    with pytest.raises(InvalidInput, match="warmup: 20000 s is not shorter"):
        _ramp_summary(catalogue, 20_000)


def test_a_second_half_with_nothing_allocated_excludes_nothing(catalogue: Catalogue) -> None:
    # a 100 s job, then at 1,000 s a 12-GPU gang no 8-GPU node holds (rejected on arrival)
    w = jobs_workload([(0.0, 100.0, 8, Tier.INTERNAL), (1_000.0, 50.0, 12, Tier.SPOT)])
    twin, _ = make_twin(w, uniform_fleet(8, "H100", catalogue), catalogue)
    end = twin.run()
    assert end == 1_000.0
    assert window_start_s(twin, "auto", 0.0, end) == 0.0


def test_clipped_gpu_time_equals_the_allocation_integral(catalogue: Catalogue) -> None:
    spec = parse_workload(
        {
            "name": "mixed",
            "days": 1,
            "load": 1.3,
            "restart": "checkpoint",
            "failures": {"mtbf_gpu_hours": 200},
            "classes": [
                {"name": t, "tier": t, "share": 0.5, "sizes": {1: 0.5, 8: 0.5}, "diurnal": "flat",
                 "durations": {"lognormal": {"median_s": 2400, "sigma": 1.0}}}
                for t in ("internal", "spot")
            ],
        }
    )  # fmt: skip
    fleet = two_site_fleet()
    w = generate(spec, fleet, catalogue, seed=4)
    twin, _ = make_twin(w, fleet, catalogue)
    end = twin.run(horizon_s=86_400.0)
    assert twin.preemptions > 0 and sum(twin.failures) > 0
    start = float(w.submit_s[0])
    for cut in (start, start + 3_600.0, start + 40_000.0):
        clipped = gpu_seconds_from(twin, cut)
        integral = build_timeline(twin, cut, end, 7).gpu_seconds
        assert math.fsum(clipped.tolist()) == pytest.approx(integral, rel=1e-9)
    assert gpu_seconds_from(twin, start).tolist() == pytest.approx(twin.gpu_s, rel=1e-12)


@pytest.mark.parametrize("text", ["soon", "-1", "nan", "inf", ""])
def test_bad_warmup_names_the_allowed_values(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"warmup: got .*allowed: auto, none, or seconds >= 0"):
        parse_warmup(text)


def test_warmup_spellings() -> None:
    assert parse_warmup("AUTO") == "auto" and parse_warmup(" none ") == "none"
    assert parse_warmup("3600") == 3600.0 and parse_warmup(0) == 0.0
