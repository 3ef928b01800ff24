"""Column types: exact money as integer micro-dollars.

Money is stored as a ``BIGINT`` count of millionths of a dollar so that it is exact and
summable on SQLite and PostgreSQL alike (SQLite has no exact decimal type). Amounts must be
whole micro-dollars; anything finer is a bug upstream, so it raises rather than rounding.
Times are ``DOUBLE PRECISION`` seconds since the Unix epoch (UTC), as everywhere in Gigawatt.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from gigawatt.core.money import MICRO

_PER_DOLLAR = Decimal(1_000_000)


class MicroDollars(TypeDecorator[Decimal]):
    """A :class:`~decimal.Decimal` dollar amount stored as integer millionths of a dollar."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        """Dollars → integer micro-dollars (exact, or ValueError)."""
        if value is None:
            return None
        micros = Decimal(value) * _PER_DOLLAR
        if micros != micros.to_integral_value():
            raise ValueError(f"amount {value} is finer than one micro-dollar")
        return int(micros)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Integer micro-dollars → dollars at micro precision."""
        if value is None:
            return None
        return (Decimal(int(value)) / _PER_DOLLAR).quantize(MICRO)


def to_micros(amount: Decimal) -> int:
    """Dollars → integer micro-dollars (for SQL sums and comparisons)."""
    return int(Decimal(amount) * _PER_DOLLAR)


def from_micros(micros: int | None) -> Decimal:
    """Integer micro-dollars (e.g. a SQL ``SUM``) → dollars."""
    return (Decimal(int(micros or 0)) / _PER_DOLLAR).quantize(MICRO)
