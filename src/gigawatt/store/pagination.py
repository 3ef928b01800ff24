"""Keyset (cursor) pagination: a stable order, an opaque cursor, no OFFSET.

A listing orders its rows by a few columns that end with a unique one (``(submitted_at, id)``)
and asks for one row more than the page holds. The cursor of the next page is the sort key
of the page's last row, encoded as URL-safe base64 JSON tagged with the listing's name; the
next page is the rows strictly after that key. Rows inserted meanwhile before the cursor are
not seen, rows after it are, and no row is seen twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from gigawatt.core.errors import InvalidCursor

T = TypeVar("T")
U = TypeVar("U")
Scalar = float | int | str
_MAX_CURSOR = 1024


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        """The same page with every item passed through ``fn``."""
        return Page([fn(item) for item in self.items], self.next_cursor)


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a listing's order, its direction and the Python type of its values."""

    column: InstrumentedAttribute[Any]
    kind: type[float] | type[int] | type[str]
    descending: bool = False


def encode_cursor(listing: str, values: Sequence[Scalar]) -> str:
    """The opaque cursor after the row whose sort key is ``values``."""
    raw = json.dumps([listing, *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad(listing: str) -> InvalidCursor:
    return InvalidCursor(
        f"invalid cursor for {listing}: pass back the X-Next-Cursor header of the previous page"
    )


def _typed(value: object, kind: type[float] | type[int] | type[str]) -> Scalar | None:
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int | float):
        return float(value)
    if kind is int and isinstance(value, int):
        return value
    if kind is str and isinstance(value, str) and len(value) <= 256:
        return value
    return None


def decode_cursor(listing: str, cursor: str, keys: Sequence[SortKey]) -> list[Scalar]:
    """The sort key in ``cursor``; :class:`InvalidCursor` for anything this listing did not
    hand out (garbage, another listing's cursor, wrong types)."""
    if not cursor or len(cursor) > _MAX_CURSOR:
        raise _bad(listing)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad(listing) from exc
    if not isinstance(decoded, list) or len(decoded) != len(keys) + 1 or decoded[0] != listing:
        raise _bad(listing)
    values: list[Scalar] = []
    for value, key in zip(decoded[1:], keys, strict=True):
        typed = _typed(value, key.kind)
        if typed is None:
            raise _bad(listing)
        values.append(typed)
    return values


def after(keys: Sequence[SortKey], values: Sequence[Scalar]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``keys``."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def ordered(query: Select[Any], keys: Sequence[SortKey]) -> Select[Any]:
    """``query`` in the order of ``keys``."""
    return query.order_by(*(k.column.desc() if k.descending else k.column.asc() for k in keys))


def paginate(
    session: Session,
    query: Select[Any],
    listing: str,
    keys: Sequence[SortKey],
    key_of: Callable[[Any], Sequence[Scalar]],
    limit: int,
    cursor: str | None = None,
) -> Page[Any]:
    """One page of ``query`` (which selects one ORM entity) in the order of ``keys``.

    ``key_of(row)`` gives a row's sort key; ``cursor`` comes from a previous page.
    """
    if cursor is not None:
        query = query.where(after(keys, decode_cursor(listing, cursor, keys)))
    rows = list(session.scalars(ordered(query, keys).limit(limit + 1)).all())
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(listing, key_of(rows[-1])))
