"""Runs the control loop in a background thread of the server process."""

from __future__ import annotations

import logging
import threading
import time

from gigawatt.services.control import ControlLoop

log = logging.getLogger(__name__)

#: Ticks woken early (a submission, a cancel) start at most this often: the wake-ups of a
#: burst that arrive meanwhile are served by one tick, not one tick each.
MIN_GAP_S = 0.05


class LoopThread:
    """Ticks ``loop`` every ``tick_s`` seconds, or sooner when ``loop.platform.wake`` is set:
    then at most every ``min_gap_s`` (default :data:`MIN_GAP_S`, or ``tick_s`` if shorter), so
    a burst of wake-ups coalesces into one tick.

    A failing tick is logged and retried on the next one: the thread never dies of an error.
    """

    def __init__(self, loop: ControlLoop, tick_s: float, min_gap_s: float | None = None) -> None:
        self.loop = loop
        self.tick_s = tick_s
        self.min_gap_s = min(tick_s, MIN_GAP_S if min_gap_s is None else min_gap_s)
        #: ticks run so far (tests, logs)
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gigawatt-control", daemon=True)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current tick and hand the lease back (jobs keep running)."""
        self._stop.set()
        self.loop.platform.wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        try:
            self.loop.resign()
        except Exception:
            log.exception("giving back the control lease failed")

    def _run(self) -> None:
        wake = self.loop.platform.wake
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.loop.tick()
            except Exception:
                log.exception("control loop tick failed; retrying")
            self.ticks += 1
            if wake.wait(self.tick_s):  # woken early: let the rest of a burst join in
                self._stop.wait(max(0.0, self.min_gap_s - (time.monotonic() - began)))
            wake.clear()
