"""The event engine: (time, priority, sequence) order, handlers returning events, virtual time."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from gigawatt.core.clock import ManualClock
from gigawatt.sim.engine import Engine, NewEvent, Stream


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
