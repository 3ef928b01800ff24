"""The price book and token rating."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gigawatt.billing import ModelPrice, PriceBook, rate_tokens
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import InvalidInput, NotFound
from gigawatt.core.tiers import Tier


def test_prices_come_from_the_catalogue() -> None:
    book = PriceBook.from_catalogue(default_catalogue())
    spec = default_catalogue().get("H100")
    for tier in Tier:
        assert book.price("H100", tier) == spec.prices_per_gpu_hour[tier]
    assert book.price("h100", "reserved") == Decimal("2.35")


def test_overrides_replace_single_prices() -> None:
    book = PriceBook.from_catalogue(default_catalogue(), {"H100": {"spot": "1.10"}})
    assert book.price("H100", Tier.SPOT) == Decimal("1.10")
    assert book.price("H100", Tier.ON_DEMAND) == Decimal("2.60")


@pytest.mark.parametrize(
    "overrides",
    [
        {"NOPE": {"spot": "1"}},
        {"H100": {"gold": "1"}},
        {"H100": {"spot": "-1"}},
        {"H100": {"spot": "abc"}},
        {"H100": {"spot": "NaN"}},
    ],
)
def test_bad_overrides_are_invalid_input(overrides: dict[str, dict[str, str]]) -> None:
    with pytest.raises(InvalidInput):
        PriceBook.from_catalogue(default_catalogue(), overrides)


def test_unknown_type_is_not_found_and_unknown_tier_invalid() -> None:
    book = PriceBook.from_catalogue(default_catalogue())
    with pytest.raises(NotFound):
        book.price("TPU", Tier.SPOT)
    with pytest.raises(InvalidInput):
        book.price("H100", "platinum")


def test_entries_cover_every_type_and_tier_in_order() -> None:
    book = PriceBook.from_catalogue(default_catalogue())
    entries = book.entries()
    assert len(entries) == len(default_catalogue().names) * len(Tier)
    first = entries[:4]
    assert [e["tier"] for e in first] == [Tier.INTERNAL, Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT]
    assert [e["gpu_type"] for e in entries] == sorted(e["gpu_type"] for e in entries)
    assert all(isinstance(e["price_per_gpu_hour"], Decimal) for e in entries)


def test_price_book_is_frozen() -> None:
    book = PriceBook.from_catalogue(default_catalogue())
    with pytest.raises(AttributeError):
        book.prices = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        book.prices[("H100", Tier.SPOT)] = Decimal(0)  # type: ignore[index]


def test_rate_tokens_is_exact() -> None:
    price = ModelPrice("llama", Decimal("0.50"), Decimal("1.50"))
    assert rate_tokens(1_000_000, 0, price) == Decimal("0.50")
    assert rate_tokens(1000, 2000, price) == Decimal("0.003500")
    assert rate_tokens(1, 1, price) == Decimal("0.000002")
    assert rate_tokens(0, 0, price) == 0


def test_rate_tokens_refuses_negative_counts_and_bad_prices() -> None:
    price = ModelPrice("m", "1", "2")  # type: ignore[arg-type]
    assert price.price_per_million_output_tokens == Decimal(2)
    with pytest.raises(InvalidInput):
        rate_tokens(-1, 0, price)
    with pytest.raises(InvalidInput):
        ModelPrice("m", Decimal("-1"), Decimal(1))
    with pytest.raises(InvalidInput):
        ModelPrice("", Decimal(1), Decimal(1))
