"""Time-bucketed accumulators of the streaming twin: a fixed number of equal buckets.

A :class:`Grid` covers ``[t0, t0 + size * width)`` with ``size`` buckets. When time runs past
the last bucket, the width doubles and neighbouring buckets merge, so memory stays fixed
(``size`` buckets) however long the run: a simulated year holds as much as a simulated hour.

What it holds per bucket:

- the allocation integral of each *series* (tier x GPU type x site) by the step-function trick:
  a change of ``d`` GPUs at ``t`` in bucket ``b`` adds ``d`` to ``net[b]`` and
  ``d * (end of b - t)`` to ``tail[b]``; the integral over bucket ``b`` is then
  ``level at its start * width + tail[b]`` (exact, whatever the number of changes);
- the highest total allocation seen at the end of an instant (for the ``auto`` warm-up cut);
- sums (exact) and, per ``coarse`` buckets, :class:`~gigawatt.sim.sketch.LogHistogram`s of
  per-job figures keyed by the job's *submission* time, so that the measured window can select
  the jobs submitted after the cut.

Every list is changed in place (never replaced), so a caller may keep references to them.
"""

from __future__ import annotations

from gigawatt.sim.sketch import LogHistogram


class Grid:
    """``size`` equal buckets from ``t0`` (``size`` a multiple of 2 * ``coarse``)."""

    __slots__ = (
        "coarse",
        "doublings",
        "hists",
        "inv",
        "level_max",
        "net",
        "series",
        "size",
        "sums",
        "t0",
        "tail",
        "width",
    )

    def __init__(
        self,
        t0: float,
        width: float,
        series: int,
        sums: dict[str, int],
        hists: dict[str, int],
        size: int = 1024,
        coarse: int = 16,
    ) -> None:
        if size % (2 * coarse) or width <= 0:
            raise ValueError("size must be a multiple of 2 * coarse, width > 0")
        self.t0 = t0
        self.width = width
        self.inv = 1.0 / width
        self.size = size
        self.coarse = coarse
        #: times the width doubled (bucket b before k doublings is bucket b >> k after)
        self.doublings = 0
        self.series = series
        self.net = [0.0] * (series * size)
        self.tail = [0.0] * (series * size)
        self.level_max = [0.0] * size
        #: name -> flat list, ``rows`` rows of ``size`` buckets (row r, bucket b: r * size + b)
        self.sums = {name: [0.0] * (rows * size) for name, rows in sums.items()}
        #: name -> ``rows`` rows of ``size // coarse`` histograms
        self.hists = {
            name: [[LogHistogram() for _ in range(size // coarse)] for _ in range(rows)]
            for name, rows in hists.items()
        }

    def index(self, t: float) -> int:
        """The bucket of time ``t`` (doubling the width while ``t`` is past the last one)."""
        b = int((t - self.t0) * self.inv)
        while b >= self.size:
            self._double()
            b = int((t - self.t0) * self.inv)
        return b if b > 0 else 0

    def edge(self, b: int) -> float:
        """Start time of bucket ``b`` (``b = size``: the end of the grid)."""
        return self.t0 + b * self.width

    def change(self, s: int, t: float, d: float) -> None:
        """Series ``s`` changes by ``d`` GPUs at ``t``."""
        b = int((t - self.t0) * self.inv)
        if b >= self.size:
            b = self.index(t)
        elif b < 0:
            b = 0
        k = s * self.size + b
        self.net[k] += d
        self.tail[k] += d * (self.t0 + (b + 1) * self.width - t)

    def _double(self) -> None:
        size, half, w = self.size, self.size // 2, self.width
        for r in range(self.series):
            o = r * size
            net, tail = self.net, self.tail
            new_net = [0.0] * size
            new_tail = [0.0] * size
            for j in range(half):
                a, b = o + 2 * j, o + 2 * j + 1
                new_net[j] = net[a] + net[b]
                new_tail[j] = tail[a] + net[a] * w + tail[b]
            net[o : o + size] = new_net
            tail[o : o + size] = new_tail
        lm = self.level_max
        lm[:] = [max(lm[2 * j], lm[2 * j + 1]) for j in range(half)] + [0.0] * half
        for flat in self.sums.values():
            out = [0.0] * len(flat)
            for r in range(len(flat) // size):
                o = r * size
                for j in range(half):
                    out[o + j] = flat[o + 2 * j] + flat[o + 2 * j + 1]
            flat[:] = out  # in place: callers may hold the list
        n = size // self.coarse
        for table in self.hists.values():
            for r, row in enumerate(table):
                merged = [LogHistogram.merged(row[2 * j : 2 * j + 2]) for j in range(n // 2)]
                table[r] = merged + [LogHistogram() for _ in range(n - n // 2)]
        self.width = 2 * w
        self.inv = 1.0 / self.width
        self.doublings += 1

    # -- reading ---------------------------------------------------------------------------
    def integrals(self, s: int) -> list[float]:
        """GPU-seconds of series ``s`` in each bucket."""
        size, w = self.size, self.width
        o = s * size
        level = 0.0
        out = [0.0] * size
        for b in range(size):
            out[b] = level * w + self.tail[o + b]
            level += self.net[o + b]
        return out

    def row(self, name: str, r: int = 0) -> list[float]:
        """Row ``r`` of the sum ``name``, one value per bucket."""
        return self.sums[name][r * self.size : (r + 1) * self.size]

    def hist_from(self, name: str, r: int, bucket: int) -> LogHistogram:
        """Row ``r`` of the histograms ``name`` merged over the coarse buckets from the one
        nearest to bucket ``bucket`` on."""
        first = round(bucket / self.coarse)
        return LogHistogram.merged(self.hists[name][r][first:])
