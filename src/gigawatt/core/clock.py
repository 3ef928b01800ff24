"""One ``Clock`` interface, two implementations: wall time (live server) and virtual time (twin).

Core code never reads the time itself; it receives ``now`` or a ``Clock``.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of the current time in seconds since the Unix epoch."""

    def now(self) -> float:
        """Current time, seconds since the epoch."""
        ...


class WallClock:
    """The real time."""

    def now(self) -> float:
        """Seconds since the epoch, from the system clock."""
        return time.time()


class ManualClock:
    """A clock that moves only when told to: the simulator's virtual time and tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    def set(self, t: float) -> None:
        """Jump to ``t``; time never moves backwards."""
        if t < self._now:
            raise ValueError(f"time cannot move backwards: {t} < {self._now}")
        self._now = t

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.set(self._now + seconds)
