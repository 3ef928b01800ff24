"""Invoice periods: calendar months in UTC, named ``YYYY-MM``.

A period runs from midnight UTC on the first of the month (inclusive) to midnight UTC on the
first of the next month (exclusive). Supported years are 1970 to 9998.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

from gigawatt.billing.checks import require_time
from gigawatt.core.errors import InvalidInput

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
_MIN_YEAR = 1970
_MAX_YEAR = 9998


def parse_period(period: object, field: str = "period") -> tuple[int, int]:
    """``(year, month)`` of a ``YYYY-MM`` string; :class:`InvalidInput` otherwise."""
    match = _PERIOD.match(period) if isinstance(period, str) else None
    if match is None:
        raise InvalidInput(f"must look like YYYY-MM (e.g. 2026-11), got {period!r}", field)
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise InvalidInput(f"month must be 01 to 12, got {period!r}", field)
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise InvalidInput(f"year must be {_MIN_YEAR} to {_MAX_YEAR}, got {period!r}", field)
    return year, month


def _name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _month_start(year: int, month: int) -> float:
    return float(calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0)))


def next_period(period: str) -> str:
    """The period after ``period`` (``2026-12`` → ``2027-01``)."""
    year, month = parse_period(period)
    return _name(year + 1, 1) if month == 12 else _name(year, month + 1)


def period_bounds(period: str) -> tuple[float, float]:
    """``(start_ts, end_ts)`` of ``period``: start inclusive, end exclusive, whole seconds."""
    year, month = parse_period(period)
    end = _month_start(year + 1, 1) if month == 12 else _month_start(year, month + 1)
    return _month_start(year, month), end


_LAST_TS = period_bounds(_name(_MAX_YEAR, 12))[1]


def period_of(ts: float) -> str:
    """The period (``YYYY-MM``) containing the instant ``ts`` (seconds since the epoch, UTC)."""
    seconds = require_time(ts, "ts")
    if not 0 <= seconds < _LAST_TS:
        raise InvalidInput(f"must lie between 1970 and {_MAX_YEAR}, got {ts!r}", "ts")
    moment = datetime.fromtimestamp(seconds, UTC)
    return _name(moment.year, moment.month)


def split_at_period_boundaries(start_ts: float, end_ts: float) -> list[tuple[float, float]]:
    """Cut ``[start_ts, end_ts)`` at every month boundary inside it.

    The pieces are contiguous: the first starts at ``start_ts``, each starts where the previous
    one ends, the last ends at ``end_ts``, and each lies within one period (its end may be the
    period's exclusive end). No piece is empty; an empty interval gives an empty list.
    """
    start = require_time(start_ts, "start")
    end = require_time(end_ts, "end")
    if end < start:
        raise InvalidInput(f"must not be before start ({start!r}), got {end!r}", "end")
    pieces: list[tuple[float, float]] = []
    if end == start:
        return pieces
    period = period_of(start)
    period_of(end)  # validates the range of the end as well
    cursor = start
    while True:
        boundary = period_bounds(period)[1]
        if end <= boundary:
            pieces.append((cursor, end))
            return pieces
        pieces.append((cursor, boundary))
        cursor = boundary
        period = next_period(period)
