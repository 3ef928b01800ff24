"""Microsoft Philly GPU jobs, as prepared for the Pollux simulator (``philly_pollux.csv``).

Columns ``timestamp,duration,num_gpus,gpu_time,cluster``: submit time (ISO date-time or
seconds), run time in seconds, GPUs, GPU-seconds, virtual cluster. The virtual cluster becomes
the tenant; the trace has no price tiers, so each job gets one drawn from ``tier_mix`` with
``seed`` (the same seed gives the same tiers).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gigawatt.core.tiers import Tier
from gigawatt.sim.traces.common import Columns, TraceError
from gigawatt.sim.traces.timestamps import seconds_or_datetimes
from gigawatt.sim.workload import DEFAULT_TIER_MIX, Workload, assign_tiers, build_workload

COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")


def load_philly(
    path: Path | str,
    *,
    tier_mix: Mapping[Tier, float] | None = None,
    seed: int = 0,
) -> Workload:
    """Read a Philly trace; submit times are made relative to the first submission."""
    cols = Columns(path, COLUMNS)
    if not len(cols):
        raise TraceError(path, "no jobs in the trace")
    submit = seconds_or_datetimes(cols, "timestamp")
    duration = cols.numbers("duration")
    gpus = cols.integers("num_gpus")
    zero = np.flatnonzero(gpus == 0)
    if len(zero):
        raise cols.error(int(zero[0]), "num_gpus must be at least 1")
    names = [c or "default" for c in cols.values["cluster"]]
    clusters = tuple(dict.fromkeys(names))
    code = {c: k for k, c in enumerate(clusters)}
    n = len(cols)
    return build_workload(
        "philly",
        submit - submit.min(),
        duration,
        gpus,
        assign_tiers(n, tier_mix or DEFAULT_TIER_MIX, seed),
        np.array([code[c] for c in names], dtype=np.int64),
        clusters,
        meta={"source": str(path), "rows": n},
    )
