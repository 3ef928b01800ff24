"""Properties of metering under arbitrary intervals and checkpoints (hypothesis)."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gigawatt.billing import PriceBook
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.tiers import Tier
from gigawatt.metering import UsageRecord, meter_interval, meter_segment

BOOK = PriceBook.from_catalogue(default_catalogue())
KW = 1.4
starts = st.floats(min_value=1.7e9, max_value=1.9e9, allow_nan=False)
lengths = st.floats(min_value=0, max_value=400 * 86400.0, allow_nan=False)
gpu_counts = st.integers(min_value=1, max_value=4096)


@given(start=starts, length=lengths, gpus=gpu_counts)
def test_gpu_seconds_are_conserved_across_period_splits(
    start: float, length: float, gpus: int
) -> None:
    end = start + length
    records = meter_interval("j", 3, "t", "H200", Tier.ON_DEMAND, gpus, start, end, BOOK, KW)
    if end == start:
        assert records == []
        return
    assert records[0].start == start and records[-1].end == end
    exact = sum((Fraction(r.end) - Fraction(r.start) for r in records), Fraction(0))
    assert exact == Fraction(end) - Fraction(start)
    total = math.fsum(r.gpu_seconds for r in records)
    assert math.isclose(total, gpus * (end - start), rel_tol=1e-12, abs_tol=1e-6)
    for record in records:
        assert math.isclose(record.gpu_seconds, gpus * (record.end - record.start), rel_tol=1e-12)
        assert record.amount_usd == record.amount_usd.quantize(Decimal("0.000001"))
    keys = [r.idempotency_key for r in records]
    assert len(set(keys)) == len(keys)
    assert [r.period for r in records] == sorted({r.period for r in records})


@settings(max_examples=60)
@given(
    start=starts,
    cuts=st.lists(st.floats(min_value=0, max_value=90 * 86400.0), max_size=8),
    tail=st.floats(min_value=0, max_value=40 * 86400.0),
)
def test_metering_in_pieces_never_double_counts(
    start: float, cuts: list[float], tail: float
) -> None:
    watermark = start
    pieces: list[UsageRecord] = []
    for offset in sorted(cuts):
        checkpoint = meter_segment(
            "j", 0, "t", "B200", "spot", 8, watermark, start + offset, BOOK, KW
        )
        pieces += checkpoint.records
        watermark = checkpoint.metered_until
    end = max(watermark, start + (max(cuts) if cuts else 0.0)) + tail
    pieces += meter_interval("j", 0, "t", "B200", "spot", 8, watermark, end, BOOK, KW)
    keys = [r.idempotency_key for r in pieces]
    assert len(keys) == len(set(keys))
    ordered = sorted(pieces, key=lambda r: r.start)
    for previous, following in itertools.pairwise(ordered):
        assert previous.end == following.start
    total = math.fsum(r.gpu_seconds for r in pieces)
    assert math.isclose(total, 8 * (end - start), rel_tol=1e-12, abs_tol=1e-6)
