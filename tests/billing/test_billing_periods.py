"""Invoice periods: calendar months in UTC, splitting at their boundaries."""

from __future__ import annotations

import calendar
import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigawatt.billing import (
    next_period,
    period_bounds,
    period_of,
    split_at_period_boundaries,
)
from gigawatt.core.errors import InvalidInput

JAN_2027 = float(calendar.timegm((2027, 1, 1, 0, 0, 0)))
MAR_2028 = float(calendar.timegm((2028, 3, 1, 0, 0, 0)))
FEB_2028 = float(calendar.timegm((2028, 2, 1, 0, 0, 0)))


def test_period_of_is_utc_month() -> None:
    assert period_of(JAN_2027) == "2027-01"
    assert period_of(JAN_2027 - 0.001) == "2026-12"
    assert period_of(0.0) == "1970-01"


def test_bounds_of_december_end_at_next_january() -> None:
    start, end = period_bounds("2026-12")
    assert end == JAN_2027
    assert end - start == 31 * 86400
    assert next_period("2026-12") == "2027-01"


def test_leap_february_has_29_days() -> None:
    assert period_bounds("2028-02") == (FEB_2028, MAR_2028)
    assert MAR_2028 - FEB_2028 == 29 * 86400
    start, end = period_bounds("2027-02")
    assert end - start == 28 * 86400


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "26-11", "2026-1", "2026/11", "", "1969-12", "x", 202611]
)
def test_bad_period_strings_are_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInput):
        period_bounds(bad)  # type: ignore[arg-type]


def test_split_across_december_to_january() -> None:
    pieces = split_at_period_boundaries(JAN_2027 - 3600, JAN_2027 + 7200)
    assert pieces == [(JAN_2027 - 3600, JAN_2027), (JAN_2027, JAN_2027 + 7200)]


def test_split_through_leap_february_spans_three_months() -> None:
    start, end = FEB_2028 - 10.5, MAR_2028 + 20.25
    pieces = split_at_period_boundaries(start, end)
    assert pieces == [(start, FEB_2028), (FEB_2028, MAR_2028), (MAR_2028, end)]
    assert [period_of(s) for s, _ in pieces] == ["2028-01", "2028-02", "2028-03"]


def test_split_at_exact_boundaries_gives_no_empty_piece() -> None:
    assert split_at_period_boundaries(FEB_2028, MAR_2028) == [(FEB_2028, MAR_2028)]
    assert split_at_period_boundaries(FEB_2028, FEB_2028) == []


def test_split_refuses_end_before_start_and_non_finite() -> None:
    with pytest.raises(InvalidInput):
        split_at_period_boundaries(10.0, 9.0)
    with pytest.raises(InvalidInput):
        split_at_period_boundaries(0.0, float("inf"))
    with pytest.raises(InvalidInput):
        period_of(float("nan"))


@given(
    start=st.floats(min_value=0, max_value=4.0e9, allow_nan=False),
    length=st.floats(min_value=0, max_value=3 * 366 * 86400.0, allow_nan=False),
)
def test_split_is_contiguous_and_conserves_time_exactly(start: float, length: float) -> None:
    end = start + length
    pieces = split_at_period_boundaries(start, end)
    if end == start:
        assert pieces == []
        return
    assert pieces[0][0] == start
    assert pieces[-1][1] == end
    for (_, previous_end), (next_start, _) in itertools.pairwise(pieces):
        assert previous_end == next_start
    for piece_start, piece_end in pieces:
        assert piece_start < piece_end
        period_start, period_end = period_bounds(period_of(piece_start))
        assert period_start <= piece_start and piece_end <= period_end
    exact = sum((Fraction(e) - Fraction(s) for s, e in pieces), Fraction(0))
    assert exact == Fraction(end) - Fraction(start)
