"""Vectorised date-time parsing for trace columns (naive times are UTC)."""

from __future__ import annotations

import warnings

import numpy as np

from gigawatt.sim.traces.common import Columns
from gigawatt.sim.workload import FloatArray


def seconds_or_datetimes(cols: Columns, name: str) -> FloatArray:
    """Column ``name`` as epoch seconds: plain numbers, or ISO date-times (``2017-10-09 07:01:55``,
    fractions of a second allowed)."""
    raw = cols.values[name]
    try:
        return np.array(raw, dtype=np.float64)
    except ValueError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on explicit UTC offsets, then applies them
        try:
            stamps = np.array(raw, dtype="datetime64[ns]")
        except ValueError:
            for k, text in enumerate(raw):
                try:
                    np.datetime64(text, "ns")
                except ValueError:
                    raise cols.error(k, f"{name} is not a date-time: {text!r}") from None
            raise
    if np.isnat(stamps).any():
        k = int(np.flatnonzero(np.isnat(stamps))[0])
        raise cols.error(k, f"{name} is not a date-time: {raw[k]!r}")
    out: FloatArray = stamps.astype(np.int64) / 1e9
    return out
