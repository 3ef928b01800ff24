"""The event engine: (time, priority, sequence) order, handlers returning events, virtual time."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable

import pytest

from gigawatt.core.clock import ManualClock
from gigawatt.sim.engine import BUCKET_S, Engine, NewEvent, Stream


def test_events_run_in_time_priority_sequence_order() -> None:
    engine = Engine()
    seen: list[tuple[float, int]] = []

    def record(now: float, payload: int) -> None:
        seen.append((now, payload))

    # same time: lower priority first; same priority: scheduling order
    engine.push(5.0, 1, 0, 1)
    engine.push(5.0, 0, 0, 2)
    engine.push(1.0, 9, 0, 3)
    engine.push(5.0, 1, 0, 4)
    engine.push(5.0, 0, 0, 5)
    end = engine.run([record])
    assert seen == [(1.0, 3), (5.0, 2), (5.0, 5), (5.0, 1), (5.0, 4)]
    assert end == 5.0 and engine.events_run == 5


def test_handlers_return_new_events_and_clock_follows() -> None:
    clock = ManualClock(0.0)
    engine = Engine(clock)
    times: list[float] = []

    def tick(now: float, n: int) -> Iterable[NewEvent]:
        times.append(clock.now())
        return [(now + 2.5, 0, 0, n - 1)] if n > 0 else ()

    engine.push(0.0, 0, 0, 3)
    assert engine.run([tick]) == 7.5
    assert times == [0.0, 2.5, 5.0, 7.5]


def test_until_stops_and_advances_the_clock() -> None:
    engine = Engine()
    ran: list[float] = []

    def tick(now: float, _: int) -> Iterable[NewEvent]:
        ran.append(now)
        return [(now + 10.0, 0, 0, 0)]

    engine.push(0.0, 0, 0, 0)
    assert engine.run([tick], until=35.0) == 35.0
    assert ran == [0.0, 10.0, 20.0, 30.0]
    assert engine.peek_time() == 40.0
    assert engine.clock.now() == 35.0


def test_events_in_the_past_are_refused() -> None:
    engine = Engine(ManualClock(10.0))
    with pytest.raises(ValueError, match="before now"):
        engine.push(5.0, 0, 0, 0)

    def back(now: float, _: int) -> Iterable[NewEvent]:
        return [(now - 1.0, 0, 0, 0)]

    engine.push(10.0, 0, 0, 0)
    with pytest.raises(ValueError, match="in the past"):
        engine.run([back])


def test_progress_is_called_with_virtual_time() -> None:
    engine = Engine()
    marks: list[float] = []

    def tick(now: float, n: int) -> Iterable[NewEvent]:
        return [(now + 1.0, 0, 0, n - 1)] if n else ()

    engine.push(0.0, 0, 0, 99)
    engine.run([tick], progress=marks.append, progress_every=16)
    assert marks == [15.0, 31.0, 47.0, 63.0, 79.0, 95.0]


def test_stream_merges_into_heap_order() -> None:
    engine = Engine()
    seen: list[tuple[str, float, int]] = []

    def arrive(now: float, i: int) -> Iterable[NewEvent]:
        seen.append(("arrive", now, i))
        return [(now + 1.0, 0, 1, i)]

    def stop(now: float, i: int) -> None:
        seen.append(("stop", now, i))

    stream = Stream([0.0, 1.0, 1.0, 3.0], priority=1, kind=0)
    engine.run([arrive, stop], stream=stream)
    # at t=1 the heap's priority-0 stop runs before the priority-1 arrivals
    assert seen == [
        ("arrive", 0.0, 0),
        ("stop", 1.0, 0),
        ("arrive", 1.0, 1),
        ("arrive", 1.0, 2),
        ("stop", 2.0, 1),
        ("stop", 2.0, 2),
        ("arrive", 3.0, 3),
        ("stop", 4.0, 3),
    ]


def test_instant_end_runs_once_per_instant_after_its_events() -> None:
    engine = Engine()
    log: list[tuple[str, float]] = []

    def event(now: float, _: int) -> None:
        log.append(("event", now))

    def end(now: float) -> Iterable[NewEvent]:
        log.append(("end", now))
        # an event at the same instant runs, then the instant ends again
        return [(now, 0, 0, 0)] if log.count(("end", now)) == 1 and now == 2.0 else ()

    stream = Stream([1.0, 1.0, 2.0], priority=1, kind=0)
    engine.run([event], stream=stream, instant_end=end)
    assert log == [
        ("event", 1.0),
        ("event", 1.0),
        ("end", 1.0),
        ("event", 2.0),
        ("end", 2.0),
        ("event", 2.0),
        ("end", 2.0),
    ]


def test_until_applies_to_the_stream() -> None:
    engine = Engine()
    seen: list[int] = []

    def arrive(now: float, i: int) -> None:
        seen.append(i)

    end = engine.run([arrive], until=2.5, stream=Stream([0.0, 1.0, 2.0, 3.0, 4.0], 1, 0))
    assert seen == [0, 1, 2] and end == 2.5


def _reference_order(
    stream_times: list[float], rules: dict[int, list[tuple[float, int, int]]], horizon: float
) -> list[tuple[float, int, int]]:
    """The order the engine must follow, from one plain binary heap of (time, priority, seq)
    with the stream merged and the end-of-instant hook, as the engine's docstring defines it."""
    heap: list[tuple[float, int, int, int, int]] = []
    seq, k, out = 0, 0, []
    n = len(stream_times)

    def schedule(now: float, new: list[tuple[float, int, int]]) -> None:
        nonlocal seq
        for dt, prio, payload in new:
            seq += 1
            heapq.heappush(heap, (now + dt, prio, seq, 1, payload))

    while True:
        next_s = stream_times[k] if k < n else math.inf
        if heap and (heap[0][0], heap[0][1]) <= (next_s, 1):
            t, _, _, kind, payload = heapq.heappop(heap)
        elif k < n:
            t, kind, payload = next_s, 0, k
            k += 1
        else:
            break
        if t > horizon:
            break
        out.append((t, kind, payload))
        schedule(t, rules.get(payload, []) if kind == 0 else [])
        next_s = stream_times[k] if k < n else math.inf
        if (heap[0][0] if heap else math.inf) > t < next_s:
            out.append((t, 2, 0))
            schedule(t, [(0.0, 0, -1)] if int(t) % 7 == 0 and (t, 2, 0) not in out[:-1] else [])
    return out


def _rule(rng: random.Random, spans: tuple[float, ...], i: int) -> tuple[float, int, int]:
    return (rng.choice(spans) * rng.choice((0, 1, 1, 1)), rng.choice((0, 1, 2)), i)


@pytest.mark.parametrize("seed", range(20))
def test_calendar_runs_events_in_exactly_the_heap_order(seed: int) -> None:
    """Events over many buckets, due in the current one, at equal times and priorities, ties
    with the stream, chunked streams and the end-of-instant hook: the same order as a heap."""
    rng = random.Random(seed)
    n = 400
    stream_times = sorted(
        round(rng.uniform(0, 5 * BUCKET_S), rng.choice((0, 1, 3))) for _ in range(n)
    )
    spans = (0.0, 0.5, BUCKET_S / 2, BUCKET_S, 3 * BUCKET_S, 40 * BUCKET_S)
    rules = {i: [_rule(rng, spans, i) for _ in range(rng.choice((0, 1, 2)))] for i in range(n)}
    horizon = rng.choice((math.inf, 3 * BUCKET_S))
    seen: list[tuple[float, int, int]] = []
    engine = Engine()

    def arrive(now: float, i: int) -> Iterable[NewEvent]:
        seen.append((now, 0, i))
        return [(now + dt, prio, 1, payload) for dt, prio, payload in rules.get(i, [])]

    def other(now: float, payload: int) -> None:
        seen.append((now, 1, payload))

    def end(now: float) -> Iterable[NewEvent]:
        seen.append((now, 2, 0))
        first = int(now) % 7 == 0 and (now, 2, 0) not in seen[:-1]
        return [(now, 0, 1, -1)] if first else ()

    # the stream in three chunks, as the streaming twin feeds it
    cuts = sorted({stream_times[n // 3], stream_times[2 * n // 3]})
    bounds = [0, *(stream_times.index(c) for c in cuts), n]
    until = None if horizon == math.inf else horizon
    for a, b in itertools.pairwise(bounds):
        before = stream_times[b] if b < n else None
        chunk = Stream(stream_times[a:b], priority=1, kind=0)
        offset = a

        def arrive_chunk(now: float, i: int, offset: int = offset) -> Iterable[NewEvent]:
            return arrive(now, i + offset)

        engine.run([arrive_chunk, other], until=until, stream=chunk, instant_end=end,
                   before=before)  # fmt: skip
    engine.run([arrive, other], until=until, instant_end=end)
    assert seen == _reference_order(stream_times, rules, horizon)
