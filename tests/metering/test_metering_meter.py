"""Metering GPU time: records per period, exact rating, energy, idempotency keys."""

from __future__ import annotations

import calendar
from decimal import Decimal

import pytest

from gigawatt.billing import PriceBook
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import InvalidInput, NotFound
from gigawatt.core.tiers import Tier
from gigawatt.metering import UsageRecord, meter_interval, meter_segment, usage_key

BOOK = PriceBook.from_catalogue(default_catalogue())
KW = default_catalogue().get("H100").it_kw_per_gpu
JAN_2027 = float(calendar.timegm((2027, 1, 1, 0, 0, 0)))
T0 = JAN_2027 - 86400.0  # 2026-12-31 00:00 UTC


def meter(start: float, end: float, **kwargs: object) -> list[UsageRecord]:
    """Meter job j-1 attempt 0: 8 reserved H100 of tenant acme."""
    return meter_interval(
        "j-1",
        0,
        "acme",
        "H100",
        Tier.RESERVED,
        8,
        start,
        end,
        BOOK,
        KW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_eight_gpus_one_hour_reserved_h100_is_18_80() -> None:
    (record,) = meter(T0, T0 + 3600)
    assert record.amount_usd == Decimal("18.800000")
    assert record.gpu_seconds == 8 * 3600
    assert record.energy_kwh == pytest.approx(8 * KW)
    assert record.period == "2026-12"
    assert record.tier is Tier.RESERVED and record.gpu_type == "H100"


def test_interval_across_new_year_gives_one_record_per_period() -> None:
    records = meter(JAN_2027 - 1800, JAN_2027 + 5400)
    assert [r.period for r in records] == ["2026-12", "2027-01"]
    assert [(r.start, r.end) for r in records] == [
        (JAN_2027 - 1800, JAN_2027),
        (JAN_2027, JAN_2027 + 5400),
    ]
    assert [r.gpu_seconds for r in records] == [8 * 1800, 8 * 5400]
    assert sum(r.amount_usd for r in records) == Decimal("2.35") * 8 * 2


def test_measured_energy_is_apportioned_by_time_and_conserved() -> None:
    records = meter(JAN_2027 - 1800, JAN_2027 + 5400, energy_kwh=10.0)
    assert records[0].energy_kwh == pytest.approx(2.5)
    assert records[1].energy_kwh == pytest.approx(7.5)
    assert sum(r.energy_kwh for r in records) == pytest.approx(10.0, abs=1e-12)


def test_keys_are_deterministic_and_unique_per_piece() -> None:
    first = meter(JAN_2027 - 1800.25, JAN_2027 + 5400)
    again = meter(JAN_2027 - 1800.25, JAN_2027 + 5400)
    assert [r.idempotency_key for r in first] == [r.idempotency_key for r in again]
    assert first == again
    assert first[0].idempotency_key == f"j-1:0:{int(JAN_2027 * 1000) - 1800250}"
    assert first[1].idempotency_key == f"j-1:0:{int(JAN_2027 * 1000)}"
    assert usage_key("j-1", 0, 1.0005) == "j-1:0:1000.5"
    assert usage_key("j-1", 1, 1.0005) != usage_key("j-1", 0, 1.0005)


def test_sub_millisecond_starts_keep_distinct_keys() -> None:
    assert usage_key("j", 0, T0 + 0.0001) != usage_key("j", 0, T0 + 0.0002)


def test_empty_interval_gives_no_record() -> None:
    assert meter(T0, T0) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gpus", -1),
        ("gpus", 0),
        ("gpus", True),
        ("attempt", -1),
        ("job_id", ""),
        ("tenant", " "),
        ("tier", "gold"),
        ("kw_per_gpu", -0.1),
        ("start", float("nan")),
    ],
)
def test_bad_values_are_invalid_input(field: str, value: object) -> None:
    args: dict[str, object] = {
        "job_id": "j",
        "attempt": 0,
        "tenant": "t",
        "gpu_type": "H100",
        "tier": "spot",
        "gpus": 1,
        "start": T0,
        "end": T0 + 1,
        "price_book": BOOK,
        "kw_per_gpu": KW,
    }
    args[field] = value
    with pytest.raises(InvalidInput) as info:
        meter_interval(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_end_before_start_and_negative_energy_are_invalid() -> None:
    with pytest.raises(InvalidInput):
        meter(T0 + 10, T0)
    with pytest.raises(InvalidInput):
        meter(T0, T0 + 10, energy_kwh=-1.0)


def test_unknown_gpu_type_is_not_found() -> None:
    with pytest.raises(NotFound):
        meter_interval("j", 0, "t", "TPUv9", Tier.SPOT, 1, T0, T0 + 1, BOOK, KW)


def segment(since: float, until: float) -> tuple[list[UsageRecord], float]:
    checkpoint = meter_segment("j-1", 0, "acme", "H100", "reserved", 8, since, until, BOOK, KW)
    return list(checkpoint.records), checkpoint.metered_until


def test_checkpoints_then_final_piece_equal_one_interval() -> None:
    start, end = JAN_2027 - 7000.5, JAN_2027 + 9000.75
    pieces: list[UsageRecord] = []
    watermark = start
    for heartbeat in (start + 3000, JAN_2027, JAN_2027 + 10, JAN_2027 + 10):
        records, watermark = segment(watermark, heartbeat)
        pieces += records
    pieces += meter(watermark, end)
    whole = meter(start, end)
    keys = [r.idempotency_key for r in pieces]
    assert len(keys) == len(set(keys))
    assert {r.idempotency_key for r in whole} <= set(keys)
    assert sum(r.gpu_seconds for r in pieces) == pytest.approx(8 * (end - start), abs=1e-6)
    assert sum(r.gpu_seconds for r in pieces) == pytest.approx(sum(r.gpu_seconds for r in whole))
    for period in ("2026-12", "2027-01"):
        split = sum(r.gpu_seconds for r in pieces if r.period == period)
        one = sum(r.gpu_seconds for r in whole if r.period == period)
        assert split == pytest.approx(one, abs=1e-6)


def test_stale_heartbeat_meters_nothing_and_keeps_watermark() -> None:
    assert segment(T0 + 100, T0 + 50) == ([], T0 + 100)
    assert segment(T0 + 100, T0 + 100) == ([], T0 + 100)


def test_remetering_an_overlapping_piece_collides_on_key() -> None:
    first, watermark = segment(T0, T0 + 600)
    retried, _ = segment(T0, T0 + 900)  # a retry that lost the watermark
    assert first[0].idempotency_key == retried[0].idempotency_key
    final = meter(watermark, T0 + 900)
    assert final[0].idempotency_key != first[0].idempotency_key


def test_usage_record_coerces_and_validates() -> None:
    raw: list[object] = ["k", "j", 0, "t", "H100", "spot", 1, 0.0, 1.0, 1.0, 0.0, "0.5", "1970-01"]
    record = UsageRecord(*raw)  # type: ignore[arg-type]
    assert record.tier is Tier.SPOT and record.amount_usd == Decimal("0.5")
    with pytest.raises(InvalidInput):
        UsageRecord(
            "k", "j", 0, "t", "H100", Tier.SPOT, 1, 2.0, 1.0, 1.0, 0.0, Decimal(0), "1970-01"
        )
    with pytest.raises(InvalidInput):
        UsageRecord("k", "j", 0, "t", "H100", Tier.SPOT, 1, 0.0, 1.0, 1.0, 0.0, Decimal(0), "1970")
