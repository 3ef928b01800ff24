"""Runs the control loop in a background thread of the server process."""

from __future__ import annotations

import logging
import threading

from gigawatt.services.control import ControlLoop

log = logging.getLogger(__name__)


class LoopThread:
    """Ticks ``loop`` every ``tick_s`` seconds, or at once when ``loop.platform.wake`` is set.

    A failing tick is logged and retried on the next one: the thread never dies of an error.
    """

    def __init__(self, loop: ControlLoop, tick_s: float) -> None:
        self.loop = loop
        self.tick_s = tick_s
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
            try:
                self.loop.tick()
            except Exception:
                log.exception("control loop tick failed; retrying")
            wake.wait(self.tick_s)
            wake.clear()
