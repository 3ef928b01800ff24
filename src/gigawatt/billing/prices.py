"""The price book: US dollars per GPU-hour by GPU type and tier, and per-token model prices.

The ``internal`` tier carries a transfer price: internal tenants are charged it for showback
(cost allocation), never as revenue (see :mod:`gigawatt.billing.ledger`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TypedDict

from gigawatt.billing.checks import parse_money, parse_tier, require_int, require_text
from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput, NotFound
from gigawatt.core.money import round_micro
from gigawatt.core.tiers import Tier

#: Overrides as read from configuration: ``{gpu_type: {tier: price_per_gpu_hour}}``.
PriceOverrides = Mapping[str, Mapping[str, "str | Decimal"]]

_MILLION = Decimal(1_000_000)


class PriceEntry(TypedDict):
    """One row of ``GET /v1/prices``."""

    gpu_type: str
    tier: Tier
    price_per_gpu_hour: Decimal


@dataclass(frozen=True)
class PriceBook:
    """Immutable prices per GPU-hour keyed by ``(gpu_type, tier)``.

    Look-ups of the GPU type are case-insensitive (``h100`` finds ``H100``).
    """

    prices: Mapping[tuple[str, Tier], Decimal]
    _by_folded_name: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checked: dict[tuple[str, Tier], Decimal] = {}
        for (gpu_type, tier), price in self.prices.items():
            name = require_text(gpu_type, "gpu_type")
            checked[(name, parse_tier(tier))] = parse_money(price, f"prices.{name}.{tier}")
        folded = {name.casefold(): name for name, _ in checked}
        object.__setattr__(self, "prices", MappingProxyType(checked))
        object.__setattr__(self, "_by_folded_name", MappingProxyType(folded))

    @classmethod
    def from_catalogue(
        cls, catalogue: Catalogue, overrides: PriceOverrides | None = None
    ) -> PriceBook:
        """The catalogue's default prices, with ``overrides[gpu_type][tier]`` replacing some.

        An override for a GPU type absent from the catalogue, an unknown tier or a price that
        is not a finite amount ≥ 0 raises :class:`InvalidInput`.
        """
        prices: dict[tuple[str, Tier], Decimal] = {}
        for name, spec in catalogue.gpus.items():
            for tier, price in spec.prices_per_gpu_hour.items():
                prices[(name, parse_tier(tier))] = price
        for gpu_type, tiers in (overrides or {}).items():
            if gpu_type not in catalogue:
                known = ", ".join(catalogue.names)
                raise InvalidInput(f"unknown GPU type {gpu_type!r}; known types: {known}", "prices")
            name = catalogue.get(gpu_type).name
            for tier_name, value in tiers.items():
                key = (name, parse_tier(tier_name, f"prices.{gpu_type}"))
                prices[key] = parse_money(value, f"prices.{gpu_type}.{tier_name}")
        return cls(prices=prices)

    @property
    def gpu_types(self) -> list[str]:
        """GPU type names with at least one price, sorted."""
        return sorted(set(self._by_folded_name.values()))

    def canonical_gpu_type(self, gpu_type: str) -> str:
        """The price book's spelling of ``gpu_type``; :class:`NotFound` if it has no prices."""
        name = self._by_folded_name.get(gpu_type.casefold()) if isinstance(gpu_type, str) else None
        if name is None:
            known = ", ".join(self.gpu_types)
            raise NotFound(f"no prices for GPU type {gpu_type!r}; known types: {known}")
        return name

    def price(self, gpu_type: str, tier: Tier | str) -> Decimal:
        """Price per GPU-hour of ``gpu_type`` at ``tier``.

        :class:`NotFound` for an unknown GPU type (or a type without a price at that tier),
        :class:`InvalidInput` for an unknown tier.
        """
        name = self.canonical_gpu_type(gpu_type)
        the_tier = parse_tier(tier)
        price = self.prices.get((name, the_tier))
        if price is None:
            raise NotFound(f"no {the_tier.value} price for GPU type {name!r}")
        return price

    def entries(self) -> list[PriceEntry]:
        """All prices, sorted by GPU type then tier rank (internal first)."""
        keys = sorted(self.prices, key=lambda key: (key[0], key[1].rank))
        return [
            PriceEntry(gpu_type=name, tier=tier, price_per_gpu_hour=self.prices[(name, tier)])
            for name, tier in keys
        ]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Price of an inference model in US dollars per million input and output tokens."""

    model: str
    price_per_million_input_tokens: Decimal
    price_per_million_output_tokens: Decimal

    def __post_init__(self) -> None:
        require_text(self.model, "model")
        for name in ("price_per_million_input_tokens", "price_per_million_output_tokens"):
            object.__setattr__(self, name, parse_money(getattr(self, name), name))


def rate_tokens(prompt_tokens: int, completion_tokens: int, price: ModelPrice) -> Decimal:
    """Amount for a request's tokens at ``price``, rounded to millionths of a dollar."""
    prompt = require_int(prompt_tokens, "prompt_tokens")
    completion = require_int(completion_tokens, "completion_tokens")
    raw = (
        Decimal(prompt) * price.price_per_million_input_tokens
        + Decimal(completion) * price.price_per_million_output_tokens
    ) / _MILLION
    return round_micro(raw)
