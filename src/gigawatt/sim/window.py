"""The measured window of a twin run: where the warm-up ends, and GPU time clipped to the window.

A run starts with an empty fleet, so its first hours are a ramp-up that no steady fleet has.
``--warmup`` chooses how much of the run to exclude from the figures the economics read:

- ``auto`` (default): the window starts at the first instant the GPUs allocated reach 95% of
  the mean GPUs allocated over the second half of the run (the run's steady level). The level is
  the exact step function of the allocation log, read after all changes of an instant. When the
  second half allocates nothing, nothing is excluded.
- ``none``: nothing is excluded (the window starts at the first submission).
- a number of simulated seconds after the first submission (it must be shorter than the run).
"""

from __future__ import annotations

import contextlib
import math
from typing import Literal

import numpy as np

from gigawatt.core.errors import InvalidInput
from gigawatt.sim.twin import Twin
from gigawatt.sim.workload import FloatArray

#: ``"auto"``, ``"none"`` or seconds of simulated time after the first submission.
Warmup = Literal["auto", "none"] | float
#: ``auto`` starts the window when the allocation reaches this share of the second half's mean.
STEADY_SHARE = 0.95


def parse_warmup(value: object, field: str = "warmup") -> Warmup:
    """``auto``, ``none`` or a finite number of seconds >= 0 (strings are parsed)."""
    seconds = math.nan
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "none"):
            return "auto" if text == "auto" else "none"
        with contextlib.suppress(ValueError):
            seconds = float(text)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    if math.isfinite(seconds) and seconds >= 0:
        return seconds
    raise InvalidInput(f"got {value!r}; allowed: auto, none, or seconds >= 0", field)


def _allocation_steps(twin: Twin) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Times, signed GPU changes and the GPU level after each change, from the twin's log."""
    t = np.array(twin.log.t, dtype=np.float64)
    signed = np.array(twin.log.job, dtype=np.int64)
    job = np.where(signed < 0, ~signed, signed)
    delta = np.where(signed < 0, -1.0, 1.0) * twin.workload.gpus[job].astype(np.float64)
    return t, delta, np.cumsum(delta)


def steady_start_s(twin: Twin, start_s: float, end_s: float) -> float:
    """Absolute time the ``auto`` window starts (``start_s`` when nothing is excluded)."""
    t, _, level = _allocation_steps(twin)
    mid = start_s + (end_s - start_s) / 2.0
    if len(t) == 0 or end_s <= mid:
        return start_s
    # mean level over [mid, end]: integral of the step function / length
    widths = np.diff(np.clip(np.append(t, end_s), mid, end_s))
    mean = float(np.dot(level, widths)) / (end_s - mid)
    if mean <= 0:
        return start_s
    last_of_instant = np.append(t[1:] != t[:-1], True)
    reached = np.flatnonzero(last_of_instant & (level >= STEADY_SHARE * mean - 1e-9))
    return max(start_s, float(t[reached[0]])) if len(reached) else start_s


def window_start_s(twin: Twin, warmup: Warmup, start_s: float, end_s: float) -> float:
    """Absolute time the measured window starts, for the given warm-up rule."""
    if warmup == "none" or warmup == 0:
        return start_s
    if warmup == "auto":
        return steady_start_s(twin, start_s, end_s)
    if warmup >= end_s - start_s:
        raise InvalidInput(
            f"{warmup:g} s is not shorter than the simulated run ({end_s - start_s:g} s)",
            "warmup",
        )
    return start_s + warmup


def gpu_seconds_from(twin: Twin, cut_s: float) -> FloatArray:
    """GPU-seconds of each job allocated at or after ``cut_s`` (attempts clipped at the cut)."""
    t, delta, _ = _allocation_steps(twin)
    signed = np.array(twin.log.job, dtype=np.int64)
    job = np.where(signed < 0, ~signed, signed)
    # an attempt [s, e] of g GPUs holds g * (max(e, cut) - max(s, cut)) after the cut;
    # a start has delta = +g, a stop delta = -g.
    weights = -delta * np.maximum(t, cut_s)
    clipped = np.bincount(job, weights=weights, minlength=twin.n).astype(np.float64)
    return np.maximum(clipped, 0.0)
