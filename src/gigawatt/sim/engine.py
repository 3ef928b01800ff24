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

The pending events are kept as a *calendar*, not one binary heap: events fall into buckets of
:data:`BUCKET_S` seconds of virtual time; only the current bucket is sorted (once, when the
next event may be in it; an event due in it later is inserted in place), later ones are plain
lists under a small heap of bucket numbers. The order is exactly the heap's — every event of a
bucket comes before every event of a later one, and a bucket is ordered by the same
``(time, priority, seq)`` — but a gigawatt run's ~400,000 pending ends no longer cost about
twenty tuple comparisons across a cold heap for each push and pop: one sort of a bucket that
fits in cache does the ordering.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gigawatt.core.clock import ManualClock

#: ``(time, priority, kind, payload)`` as returned by a handler. The payload is the handler's
#: own (a job index, or a record of the job: the engine never reads or compares it).
NewEvent = tuple[float, int, int, Any]
#: A handler: ``(now, payload) -> new events``.
Handler = Callable[[float, Any], Iterable[NewEvent] | None]
#: The end-of-instant hook: ``now -> new events``.
InstantEnd = Callable[[float], Iterable[NewEvent] | None]
#: Called every ``progress_every`` events with the current virtual time.
Progress = Callable[[float], None]
_INF: Final = float("inf")
#: Width of a calendar bucket, in seconds of virtual time.
BUCKET_S: Final = 60.0
_INV_BUCKET: Final = 1.0 / BUCKET_S
Event = tuple[float, int, int, int, Any]


@dataclass(frozen=True, slots=True)
class Stream:
    """Pre-sorted event times of one ``kind`` at one ``priority`` (payload: the index)."""

    times: Sequence[float]
    priority: int
    kind: int


class Engine:
    """Event calendar + virtual clock. One engine per run; not thread-safe."""

    __slots__ = ("_bheap", "_buckets", "_cur", "_cur_b", "_pos", "_seq", "clock", "events_run")

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock if clock is not None else ManualClock(0.0)
        #: the current bucket's events, ascending; those before ``_pos`` have run
        self._cur: list[Event] = []
        self._pos = 0
        #: the current bucket's number: every event of a bucket up to it goes in ``_cur``
        self._cur_b = -(1 << 62)
        #: later buckets (unsorted) by number, and a heap of their numbers
        self._buckets: dict[int, list[Event]] = {}
        self._bheap: list[int] = []
        self._seq = 0
        self.events_run = 0

    def __len__(self) -> int:
        return len(self._cur) - self._pos + sum(len(b) for b in self._buckets.values())

    def push(self, time: float, priority: int, kind: int, payload: Any) -> None:
        """Schedule one event (it may not be earlier than the clock)."""
        if time < self.clock.now():
            raise ValueError(f"event at {time} is before now ({self.clock.now()})")
        self._seq += 1
        self._add((time, priority, self._seq, kind, payload))

    def _add(self, event: Event) -> None:
        b = math.floor(event[0] * _INV_BUCKET) if event[0] < _INF else 1 << 62
        if b <= self._cur_b:
            bisect.insort(self._cur, event, self._pos)
            return
        bucket = self._buckets.get(b)
        if bucket is None:
            self._buckets[b] = [event]
            heapq.heappush(self._bheap, b)
        else:
            bucket.append(event)

    def _advance(self) -> None:
        """Make the next bucket current: called once the current one has run and the next is
        due (:meth:`_due`), so there is one."""
        b = heapq.heappop(self._bheap)
        cur = self._buckets.pop(b)
        cur.sort()
        self._cur, self._pos, self._cur_b = cur, 0, b

    def _due(self, t: float) -> bool:
        """True when the next later bucket may hold an event at or before ``t`` (then it must
        become current before anything at ``t`` runs). A bucket's events are at or after its
        start; one bucket of margin covers the rounding of ``time / BUCKET_S``."""
        return bool(self._bheap) and (self._bheap[0] - 1) * BUCKET_S <= t

    def peek_time(self) -> float | None:
        """Time of the next pending event, or None when there is none."""
        if self._pos < len(self._cur):
            return self._cur[self._pos][0]
        if not self._bheap:
            return None
        return min(self._buckets[self._bheap[0]])[0]

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
        cur = self._cur
        pos = self._pos
        payload: Any
        try:
            while True:
                # The next bucket becomes current only when it is due: made current early, it
                # would take in (by insertion) every event pushed before its time.
                if pos == len(cur) and self._due(next_s):
                    self._pos = pos
                    self._advance()
                    cur, pos = self._cur, self._pos
                if pos < len(cur):
                    top = cur[pos]
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
                    _, _, _, kind, payload = top
                    pos += 1
                if t != now:
                    clock.set(t)
                    now = t
                count += 1
                new = handlers[kind](t, payload)
                if new:
                    self._pos = pos
                    for et, ep, ek, epl in new:
                        if et < now:
                            raise ValueError(f"handler {kind} scheduled an event in the past")
                        seq += 1
                        self._add((et, ep, seq, ek, epl))
                    pos = self._pos
                if instant_end is not None and t < next_s:
                    self._pos = pos
                    if pos == len(cur) and self._due(t):
                        self._advance()
                        cur, pos = self._cur, self._pos
                    if (cur[pos][0] if pos < len(cur) else _INF) > t:
                        more = instant_end(t)
                        if more:
                            for et, ep, ek, epl in more:
                                if et < now:
                                    raise ValueError("end-of-instant hook scheduled in the past")
                                seq += 1
                                self._add((et, ep, seq, ek, epl))
                            pos = self._pos
                if every and count % every == 0 and progress is not None:
                    progress(now)
        finally:
            self._pos = pos
            self._seq = seq
            self.events_run = count
        if until is not None and until > now and not (before is not None and before <= until):
            clock.set(until)
            now = until
        return now
