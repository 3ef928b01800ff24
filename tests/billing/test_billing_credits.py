"""The reserved-preemption credit policy."""

from __future__ import annotations

import calendar
from decimal import Decimal

import pytest

from gigawatt.billing import (
    Credit,
    PriceBook,
    preemption_credit,
    preemption_credit_key,
    reserved_preemption_credit,
)
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.metering import meter_interval

BOOK = PriceBook.from_catalogue(default_catalogue())
JAN_2027 = float(calendar.timegm((2027, 1, 1, 0, 0, 0)))


def test_reserved_attempt_is_refunded_plus_ten_percent_of_an_hour() -> None:
    records = meter_interval(
        "j", 2, "acme", "H100", Tier.RESERVED, 8, JAN_2027 - 1800, JAN_2027 + 1800, BOOK, 1.4
    )
    assert len(records) == 2
    # billed: 8 GPU-h at 2.35 = 18.80; penalty: 10 % of 8 x 2.35 = 1.88
    assert reserved_preemption_credit(records, BOOK) == Decimal("20.68")


def test_spot_and_on_demand_and_internal_get_nothing() -> None:
    for tier in (Tier.SPOT, Tier.ON_DEMAND, Tier.INTERNAL):
        records = meter_interval("j", 0, "t", "H100", tier, 8, 0.0, 3600.0, BOOK, 1.4)
        assert reserved_preemption_credit(records, BOOK) == 0
    assert reserved_preemption_credit([], BOOK) == 0


def test_parameter_form_of_the_policy() -> None:
    assert preemption_credit("reserved", 4, Decimal("3.40"), Decimal("10")) == Decimal("11.36")
    assert preemption_credit("spot", 4, Decimal("3.40"), Decimal("10")) == 0
    with pytest.raises(InvalidInput):
        preemption_credit("reserved", 0, Decimal(1), Decimal(1))
    with pytest.raises(InvalidInput):
        preemption_credit("reserved", 1, Decimal(1), Decimal(-1))


def test_records_of_two_attempts_are_refused() -> None:
    a = meter_interval("j", 0, "t", "H100", Tier.RESERVED, 8, 0.0, 60.0, BOOK, 1.4)
    b = meter_interval("j", 1, "t", "H100", Tier.RESERVED, 8, 60.0, 120.0, BOOK, 1.4)
    with pytest.raises(InvalidInput):
        reserved_preemption_credit([*a, *b], BOOK)


def test_credit_value_and_key() -> None:
    assert preemption_credit_key("j", 3) == "credit:preempt:j:3"
    credit = Credit("credit:preempt:j:3", "acme", "reserved", "1.5", "preempted", 0.0, "1970-01")  # type: ignore[arg-type]
    assert credit.tier is Tier.RESERVED and credit.amount_usd == Decimal("1.5")
    with pytest.raises(InvalidInput):
        Credit("k", "acme", Tier.RESERVED, Decimal(-1), "r", 0.0, "1970-01")
