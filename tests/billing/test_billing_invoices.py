"""Invoices: grouping, rounding to cents per line, totals, determinism."""

from __future__ import annotations

import calendar
import random
from decimal import Decimal

import pytest

from gigawatt.billing import Credit, ModelPrice, PriceBook, build_invoice
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.metering import TokenUsage, UsageRecord, meter_interval, meter_tokens

BOOK = PriceBook.from_catalogue(default_catalogue())
NOV = float(calendar.timegm((2026, 11, 1, 0, 0, 0)))
DEC = float(calendar.timegm((2026, 12, 1, 0, 0, 0)))
PRICE = ModelPrice("tiny", Decimal("0.20"), Decimal("0.60"))


def records() -> list[UsageRecord]:
    out: list[UsageRecord] = []
    for i, (gpu_type, tier, gpus, seconds) in enumerate(
        [
            ("H100", Tier.RESERVED, 8, 3600.0),
            ("H100", Tier.RESERVED, 8, 1234.567),
            ("H100", Tier.SPOT, 2, 77.7),
            ("B200", Tier.ON_DEMAND, 16, 7200.0),
        ]
    ):
        start = NOV + i * 10_000
        out += meter_interval(
            f"j{i}", 0, "acme", gpu_type, tier, gpus, start, start + seconds, BOOK, 1.4
        )
    # crosses into December: only the November part belongs to this invoice
    out += meter_interval("j9", 0, "acme", "H100", Tier.SPOT, 1, DEC - 3600, DEC + 3600, BOOK, 1.4)
    out += meter_interval("other", 0, "beta", "H100", Tier.SPOT, 1, NOV, NOV + 60, BOOK, 1.4)
    return out


def tokens() -> list[TokenUsage]:
    return [meter_tokens(f"r{i}", "acme", "k", PRICE, 1000 + i, 333, NOV + i) for i in range(50)]


def credits() -> list[Credit]:
    return [
        Credit("c1", "acme", Tier.RESERVED, Decimal("1.234567"), "preempted j0", NOV + 5, "2026-11")
    ]


def test_lines_are_grouped_and_ordered() -> None:
    invoice = build_invoice("acme", "2026-11", records(), tokens(), credits())
    assert [(line.kind, line.gpu_type, line.tier, line.model) for line in invoice.lines] == [
        ("gpu", "B200", Tier.ON_DEMAND, None),
        ("gpu", "H100", Tier.RESERVED, None),
        ("gpu", "H100", Tier.SPOT, None),
        ("inference", None, None, "tiny"),
        ("credit", None, Tier.RESERVED, None),
    ]
    b200, reserved, spot, inference, credit = invoice.lines
    assert b200.quantity == Decimal("32") and b200.amount_usd == Decimal("169.60")
    assert reserved.unit == "GPU-hour"
    # 8 x (3600 + 1234.567) s = 10.743482 GPU-h at 2.35/h = 25.2471827, rounded once
    assert reserved.quantity == Decimal("10.743482")
    assert reserved.amount_usd == Decimal("25.25")
    assert spot.quantity == Decimal("1.043167")  # (2 x 77.7 + 3600) / 3600
    assert inference.quantity == 50 * 333 + sum(1000 + i for i in range(50))
    assert credit.amount_usd == Decimal("-1.23")


def test_totals_are_sums_of_lines() -> None:
    invoice = build_invoice("acme", "2026-11", records(), tokens(), credits())
    charges = [line.amount_usd for line in invoice.lines if line.kind != "credit"]
    assert invoice.subtotal == sum(charges)
    assert invoice.credits == Decimal("1.23")
    assert invoice.total == sum(line.amount_usd for line in invoice.lines)
    assert invoice.total == invoice.subtotal - invoice.credits
    for line in invoice.lines:
        assert line.amount_usd == line.amount_usd.quantize(Decimal("0.01"))


def test_rounding_happens_once_per_line() -> None:
    # 1000 records of 0.004 each: per-record cent rounding would give 0.00, per-line gives 4.00
    tiny = [
        UsageRecord(
            f"k{i}", "j", 0, "acme", "H100", Tier.SPOT, 1, NOV + i, NOV + i + 1, 1.0, 0.0,
            Decimal("0.004"), "2026-11",
        )
        for i in range(1000)
    ]  # fmt: skip
    invoice = build_invoice("acme", "2026-11", tiny, [], [])
    assert invoice.total == Decimal("4.00")


def test_building_twice_in_any_order_gives_the_same_invoice() -> None:
    usage, toks, creds = records(), tokens(), credits()
    first = build_invoice("acme", "2026-11", usage, toks, creds)
    random.Random(7).shuffle(usage)
    random.Random(8).shuffle(toks)
    second = build_invoice("acme", "2026-11", usage + usage[:3], toks, creds * 2)
    assert first == second
    assert first.key == "acme:2026-11"


def test_conflicting_items_under_one_key_are_refused() -> None:
    (a,) = meter_interval("j", 0, "acme", "H100", Tier.SPOT, 1, NOV, NOV + 60, BOOK, 1.4)
    (b,) = meter_interval("j", 0, "acme", "H100", Tier.SPOT, 1, NOV, NOV + 90, BOOK, 1.4)
    with pytest.raises(InvalidInput):
        build_invoice("acme", "2026-11", [a, b], [], [])


def test_empty_invoice_and_bad_period() -> None:
    invoice = build_invoice("nobody", "2026-11", records(), tokens(), credits())
    assert invoice.lines == () and invoice.total == 0
    with pytest.raises(InvalidInput):
        build_invoice("acme", "2026-13", [], [], [])
