"""The discrete-event core: a heap of events on a virtual clock.

Events are plain tuples ``(time, priority, seq, kind, payload)``. ``seq`` is a counter owned by
the engine, so two events at the same time and priority always run in the order they were
scheduled: the same inputs give the same run, every time. Handlers are indexed by ``kind``;
each returns the events it causes as ``(time, priority, kind, payload)`` tuples (or None).

Two additions keep the heap small on million-job runs without changing the order:

- an *arrival stream*: a sorted sequence of times merged into the heap's order as events
  ``(time, stream priority, kind = stream kind, payload = index in the stream)``, so a million
  arrivals are never pushed;
- an *end-of-instant* hook, called once all events of an instant have run (as an event of the
  lowest priority at that time would be); the events it returns join the heap.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gigawatt.core.clock import ManualClock

#: ``(time, priority, kind, payload)`` as returned by a handler.
NewEvent = tuple[float, int, int, int]
#: A handler: ``(now, payload) -> new events``.
Handler = Callable[[float, int], Iterable[NewEvent] | None]
#: The end-of-instant hook: ``now -> new events``.
InstantEnd = Callable[[float], Iterable[NewEvent] | None]
#: Called every ``progress_every`` events with the current virtual time.
Progress = Callable[[float], None]
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Stream:
    """Pre-sorted event times of one ``kind`` at one ``priority`` (payload: the index)."""

    times: Sequence[float]
    priority: int
    kind: int


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
        """Time of the next heap event, or None when the heap is empty."""
        return self._heap[0][0] if self._heap else None

    def run(
        self,
        handlers: Sequence[Handler],
        until: float | None = None,
        progress: Progress | None = None,
        progress_every: int = 65536,
        *,
        stream: Stream | None = None,
        instant_end: InstantEnd | None = None,
        before: float | None = None,
    ) -> float:
        """Run events in (time, priority, seq) order; stop when none is left, the next one is
        after ``until``, or (``before``) at or after ``before``. Returns the virtual time
        reached: ``until`` when given and no ``before`` stopped the run. Handlers must return
        events rather than call :meth:`push` while the engine runs.

        ``before`` lets a caller feed arrivals in consecutive streams (chunks): run each
        stream with ``before`` = the next stream's first time, so that events of that instant
        wait for its arrivals and the order is the same as with one long stream."""
        heap = self._heap
        pop = heapq.heappop
        push = heapq.heappush
        clock = self.clock
        seq = self._seq
        count = self.events_run
        now = clock.now()
        limit = _INF if until is None else until
        stop_at = _INF if before is None else before
        every = progress_every if progress is not None else 0
        times: Sequence[float] = stream.times if stream is not None else ()
        s_prio = stream.priority if stream is not None else 0
        s_kind = stream.kind if stream is not None else 0
        n_stream = len(times)
        k = 0
        next_s = times[0] if n_stream else _INF
        try:
            while True:
                if heap:
                    top = heap[0]
                    take_stream = next_s < top[0] or (next_s == top[0] and s_prio < top[1])
                    t = next_s if take_stream else top[0]
                elif next_s < _INF:
                    take_stream, t = True, next_s
                else:
                    break
                if t > limit or t >= stop_at:
                    break
                if take_stream:
                    kind, payload = s_kind, k
                    k += 1
                    next_s = times[k] if k < n_stream else _INF
                else:
                    _, _, _, kind, payload = pop(heap)
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
                if instant_end is not None and (heap[0][0] if heap else _INF) > t < next_s:
                    more = instant_end(t)
                    if more:
                        for et, ep, ek, epl in more:
                            if et < now:
                                raise ValueError("end-of-instant hook scheduled in the past")
                            seq += 1
                            push(heap, (et, ep, seq, ek, epl))
                if every and count % every == 0 and progress is not None:
                    progress(now)
        finally:
            self._seq = seq
            self.events_run = count
        if until is not None and until > now and not (before is not None and before <= until):
            clock.set(until)
            now = until
        return now
