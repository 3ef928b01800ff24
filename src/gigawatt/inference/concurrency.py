"""Limits on concurrent requests (``max_concurrent`` of a tenant or key), per gateway process.

A request takes one slot of every limited subject at admission and gives them back when its
usage record is written. The count lives in this process only — a crash frees its slots
with it, and N gateway processes allow up to N × ``max_concurrent`` in all.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from gigawatt.inference.limits import Limits, Subject, too_many_concurrent


class ConcurrencyGate:
    """Requests in flight per subject (thread-safe: admission may run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[Subject, int] = {}

    def acquire(self, limits: Mapping[Subject, Limits]) -> tuple[Subject, ...]:
        """Take a slot of every subject with ``max_concurrent`` (all or none; 429 when one
        is full). Returns the subjects to :meth:`release` later."""
        limited = [(s, lim) for s, lim in limits.items() if lim.max_concurrent is not None]
        if not limited:
            return ()
        with self._lock:
            for subject, lim in limited:
                if self._inflight.get(subject, 0) >= (lim.max_concurrent or 0):
                    raise too_many_concurrent(subject, lim)
            for subject, _ in limited:
                self._inflight[subject] = self._inflight.get(subject, 0) + 1
        return tuple(s for s, _ in limited)

    def release(self, subjects: tuple[Subject, ...]) -> None:
        """Give back the slots :meth:`acquire` took."""
        if not subjects:
            return
        with self._lock:
            for subject in subjects:
                left = self._inflight.get(subject, 0) - 1
                if left > 0:
                    self._inflight[subject] = left
                else:
                    self._inflight.pop(subject, None)

    def inflight(self, subject: Subject) -> int:
        """Requests of ``subject`` in flight in this process now."""
        with self._lock:
            return self._inflight.get(subject, 0)
