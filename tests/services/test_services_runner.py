"""The loop thread: a burst of wake-ups (submissions, cancels) is served by one tick, not one
tick each, and the thread stops cleanly."""

from __future__ import annotations

import time

from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform
from gigawatt.services.runner import LoopThread


def test_a_burst_of_wake_ups_coalesces_into_few_ticks(platform: Platform) -> None:
    thread = LoopThread(ControlLoop(platform, holder="runner-test"), tick_s=30.0, min_gap_s=0.3)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while thread.ticks < 1:  # the first tick (takes the lease) runs at once
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for _ in range(100):  # 100 wake-ups within about 0.1 s
            platform.wake.set()
            time.sleep(0.001)
        time.sleep(0.8)
        # one tick for the burst (maybe two: one woken before the gap, one after it)
        assert 2 <= thread.ticks <= 3
    finally:
        thread.stop()
    assert not thread._thread.is_alive()


def test_without_wake_ups_it_ticks_every_tick_s(platform: Platform) -> None:
    thread = LoopThread(ControlLoop(platform, holder="runner-test"), tick_s=0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while thread.ticks < 1:  # the first tick takes the lease (slower)
            assert time.monotonic() < deadline
            time.sleep(0.01)
        first = thread.ticks
        time.sleep(1.0)
        # about 20 ticks of 0.05 s in a second (fewer on a loaded machine), never more
        assert 3 <= thread.ticks - first <= 21
    finally:
        thread.stop()
