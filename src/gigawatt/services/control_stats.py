"""What the control loop measures about itself, for ``/metrics`` (one object per process).

:class:`ControlStats` lives on the :class:`~gigawatt.services.platform.Platform`; the loop
records each tick it ran as leader, the metrics collector reads it at scrape time.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

#: Upper bounds (seconds) of the tick-duration histogram's buckets.
TICK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class TickSnapshot:
    """A consistent copy of the counters: cumulative counts per bucket bound (``+Inf`` last),
    sum and count of tick durations, and the scheduler's queue (None: not the leader)."""

    buckets: tuple[tuple[float, int], ...]
    sum_s: float
    count: int
    queue_jobs: int | None


class ControlStats:
    """Tick durations (a histogram) and the scheduler's queue length; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * (len(TICK_BUCKETS_S) + 1)
        self._sum = 0.0
        self._count = 0
        self._queue: int | None = None

    def record_tick(self, seconds: float, queue_jobs: int) -> None:
        """One tick run as leader took ``seconds``; ``queue_jobs`` jobs wait after it."""
        with self._lock:
            self._counts[bisect.bisect_left(TICK_BUCKETS_S, seconds)] += 1
            self._sum += seconds
            self._count += 1
            self._queue = queue_jobs

    def not_leader(self) -> None:
        """This process does not run the loop (now): it has no scheduler queue to report."""
        with self._lock:
            self._queue = None

    def snapshot(self) -> TickSnapshot:
        """The counters now."""
        with self._lock:
            running = 0
            out: list[tuple[float, int]] = []
            for bound, n in zip((*TICK_BUCKETS_S, float("inf")), self._counts, strict=True):
                running += n
                out.append((bound, running))
            return TickSnapshot(tuple(out), self._sum, self._count, self._queue)
