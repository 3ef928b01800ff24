"""The discrete-event core: a heap of events on a virtual clock.

Events are plain tuples ``(time, priority, seq, kind, payload)``. ``seq`` is a counter owned by
the engine, so two events at the same time and priority always run in the order they were
scheduled: the same inputs give the same run, every time. Handlers are indexed by ``kind``;
each returns the events it causes as ``(time, priority, kind, payload)`` tuples (or None).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence

from gigawatt.core.clock import ManualClock

#: ``(time, priority, kind, payload)`` as returned by a handler.
NewEvent = tuple[float, int, int, int]
#: A handler: ``(now, payload) -> new events``.
Handler = Callable[[float, int], Iterable[NewEvent] | None]
#: Called every ``progress_every`` events with the current virtual time.
Progress = Callable[[float], None]


class Engine:
    """Event heap + virtual clock. One engine per run; not thread-safe."""

    __slots__ = ("_heap", "_seq", "clock", "events_run")

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock if clock is not None else ManualClock(0.0)
        self._heap: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self.events_run = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time: float, priority: int, kind: int, payload: int) -> None:
        """Schedule one event (it may not be earlier than the clock)."""
        if time < self.clock.now():
            raise ValueError(f"event at {time} is before now ({self.clock.now()})")
        self._seq += 1
        heapq.heappush(self._heap, (time, priority, self._seq, kind, payload))

    def peek_time(self) -> float | None:
        """Time of the next event, or None when the heap is empty."""
        return self._heap[0][0] if self._heap else None

    def run(
        self,
        handlers: Sequence[Handler],
        until: float | None = None,
        progress: Progress | None = None,
        progress_every: int = 65536,
    ) -> float:
        """Run events in (time, priority, seq) order; stop when none is left or the next one
        is after ``until``. Returns the virtual time reached."""
        heap = self._heap
        pop = heapq.heappop
        push = heapq.heappush
        clock = self.clock
        seq = self._seq
        count = self.events_run
        now = clock.now()
        limit = float("inf") if until is None else until
        mask = progress_every - 1 if progress is not None else -1
        try:
            while heap:
                if heap[0][0] > limit:
                    break
                t, _, _, kind, payload = pop(heap)
                if t != now:
                    clock.set(t)
                    now = t
                count += 1
                new = handlers[kind](t, payload)
                if new:
                    for et, ep, ek, epl in new:
                        if et < now:
                            raise ValueError(f"handler {kind} scheduled an event in the past")
                        seq += 1
                        push(heap, (et, ep, seq, ek, epl))
                if count & mask == 0 and progress is not None:
                    progress(now)
        finally:
            self._seq = seq
            self.events_run = count
        if until is not None and until > now:
            clock.set(until)
            now = until
        return now
