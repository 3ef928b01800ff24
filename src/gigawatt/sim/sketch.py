"""A streaming percentile sketch: a sparse histogram of ``log(1 + x)`` in fixed-width bins.

The streaming twin (:mod:`gigawatt.sim.stream`) cannot keep one queueing delay per job on a
simulated year (hundreds of millions of jobs), so it counts delays in log-spaced bins instead.

Error bound (documented in docs/simulator.md and checked by tests): bin ``k`` holds the values
``x >= 0`` with ``k <= log(1 + x) / log(RATIO) < k + 1`` and answers with the value at the
middle of that range in log space. So a quantile read from the sketch lies within a factor
``sqrt(RATIO)`` (= 1.0100 for ``RATIO`` = 1.0201) of ``1 + v``, where ``v`` is the exact
quantile (``numpy.percentile``'s linear interpolation between order statistics, applied to
the bins' values): the error is at most 1% of ``1 + v`` (0.01 s below 1 s, 1% of the value
above). Zero (and negative values, counted as zero) has a
bin of its own and is answered exactly. Counts and sums are exact, so means are exact.
Memory is one list entry per bin up to the largest one seen: at most about 930 for values up
to 10^8 s, whatever the number of values added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

#: Ratio of consecutive bin edges in ``1 + x`` (bins 2.01% wide: answers within 1%).
RATIO: Final = 1.0201
_INV_LOG: Final = 1.0 / math.log(RATIO)
#: bound once: the compiled module would look ``log1p`` up on ``math`` at every call
_LOG1P: Final = math.log1p


def bin_of(x: float) -> int:
    """The bin of a value ``x`` (-1: zero or less, answered exactly as 0)."""
    return int(_LOG1P(x) * _INV_LOG) if x > 0 else -1


def bin_value(k: int) -> float:
    """The value a bin answers with: the middle of its range in ``log(1 + x)``."""
    return 0.0 if k < 0 else math.expm1((k + 0.5) / _INV_LOG)


class LogHistogram:
    """Counts per log bin, plus the exact count and sum (mergeable; memory ~ the largest bin).

    ``bins[k + 1]`` counts bin ``k`` (``bins[0]``: zero), a list grown to the largest bin seen
    (about 930 entries for values up to 10^8 s): an add is a list update, where a dict by bin
    would box and hash the bin twice in the compiled module.
    """

    __slots__ = ("bins", "count", "total")

    def __init__(self) -> None:
        self.bins: list[int] = []
        self.count = 0
        self.total = 0.0

    def add(self, x: float, weight: int = 1) -> None:
        """Count ``x`` (``weight`` times)."""
        i = bin_of(x) + 1
        bins = self.bins
        if i >= len(bins):
            bins.extend([0] * (i + 1 - len(bins)))
        bins[i] = bins[i] + weight  # not +=: a generic call on a list item, compiled
        self.count += weight
        self.total += x * weight

    def merge(self, other: LogHistogram) -> None:
        """Add every value counted by ``other``."""
        bins, more = self.bins, other.bins
        if len(more) > len(bins):
            bins.extend([0] * (len(more) - len(bins)))
        for i in range(len(more)):
            bins[i] = bins[i] + more[i]
        self.count += other.count
        self.total += other.total

    @classmethod
    def merged(cls, parts: Iterable[LogHistogram]) -> LogHistogram:
        """One histogram counting the values of all ``parts``."""
        out = cls()
        for p in parts:
            out.merge(p)
        return out

    def occupied(self) -> dict[int, int]:
        """Count per occupied bin ``k`` (-1: zero), ascending."""
        return {i - 1: c for i, c in enumerate(self.bins) if c}

    @property
    def mean(self) -> float:
        """Exact mean of the values added (0 when none)."""
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1) as ``numpy.percentile`` computes it (linear between the
        order statistics at ranks ``floor`` and ``ceil`` of ``q * (count - 1)``), with each
        order statistic read as its bin's value."""
        if not self.count:
            return 0.0
        rank = q * (self.count - 1)
        lo = math.floor(rank)
        hi = min(lo + 1, self.count - 1)
        v_lo = v_hi = math.nan
        seen = 0
        for k, c in self.occupied().items():
            seen += c
            if v_lo != v_lo and seen > lo:
                v_lo = bin_value(k)
            if seen > hi:
                v_hi = bin_value(k)
                break
        return v_lo + (rank - lo) * (v_hi - v_lo)

    def stats(self) -> dict[str, float]:
        """Mean (exact), median, P95 and P99 (within the bound in the module docstring)."""
        return {
            "mean": self.mean,
            "median": self.quantile(0.5),
            "p95": self.quantile(0.95),
            "p99": self.quantile(0.99),
        }

    def cdf_points(self) -> list[float]:
        """One representative value per counted value, sorted (for CDF charts), at most 2,000:
        the bins' values repeated in proportion to their counts."""
        if not self.count:
            return []
        scale = min(1.0, 2000.0 / self.count)
        out: list[float] = []
        acc = 0.0
        for k, c in self.occupied().items():
            acc += c * scale
            n = int(acc) - len(out)
            out.extend([bin_value(k)] * max(n, 0))
        return out
