"""Keeping the leader's long-lived memory out of the garbage collector's full passes.

A leader of a large fleet holds millions of long-lived objects (its scheduler, the attempts it
runs, their deadlines). CPython's cyclic garbage collector walks all of them in every full
(generation 2) pass: about a third of a second per pass with 100,000 running attempts, in
whatever tick it happens to fall. :class:`GcFreezer` moves what is alive after a rebuild into
the collector's permanent generation (``gc.freeze``, after a full collection, so only live
objects are frozen), then every :attr:`~GcFreezer.every_ticks` ticks collects and freezes the
objects that became long-lived since (a pass over those only: tens of milliseconds), and every
:attr:`~GcFreezer.thaw_ticks` ticks thaws everything for one full pass, so that a reference
cycle among frozen objects that died meanwhile is reclaimed too. Frozen objects are still
freed by reference counting as soon as nothing refers to them.

Only a loop holding at least :attr:`~GcFreezer.min_attempts` attempts does any of this: on a
small fleet a full pass is cheap and the process (a test run, say) is left alone.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


class GcFreezer:
    """Freezes the leader's long-lived objects (see the module docstring)."""

    def __init__(
        self, min_attempts: int = 10_000, every_ticks: int = 40, thaw_ticks: int = 14_400
    ) -> None:
        self.min_attempts = min_attempts
        self.every_ticks = every_ticks
        self.thaw_ticks = thaw_ticks
        self._since_freeze = 0
        self._since_thaw = 0
        self.frozen = False

    def after_tick(self, attempts: int, rebuilt: bool) -> None:
        """Called after each tick run as leader: ``attempts`` held, ``rebuilt`` when the loop's
        memory was built anew in this tick."""
        if attempts < self.min_attempts:
            return
        self._since_freeze += 1
        self._since_thaw += 1
        if rebuilt or not self.frozen or self._since_thaw >= self.thaw_ticks:
            self._freeze(thaw=True)
        elif self._since_freeze >= self.every_ticks:
            self._freeze(thaw=False)

    def release(self) -> None:
        """The loop stopped leading (or its memory was dropped): give what was frozen back
        to the collector, so that the old state's reference cycles can be reclaimed."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False

    def _freeze(self, thaw: bool) -> None:
        began = time.perf_counter()
        if thaw:
            gc.unfreeze()
            self._since_thaw = 0
        gc.collect()
        gc.freeze()
        self.frozen = True
        self._since_freeze = 0
        log.debug(
            "froze %d objects (%s) in %.3f s",
            gc.get_freeze_count(),
            "full pass" if thaw else "young objects",
            time.perf_counter() - began,
        )
