"""Microsoft Philly GPU jobs, as prepared for the Pollux simulator (``philly_pollux.csv``).

Columns ``timestamp,duration,num_gpus,gpu_time,cluster``: submit time (ISO date-time or
seconds), run time in seconds, GPUs, GPU-seconds, virtual cluster. The virtual cluster becomes
the tenant; the trace has no price tiers, so each job gets one drawn from ``tier_mix`` with
``seed`` (the same seed gives the same tiers).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gigawatt.core.tiers import Tier
from gigawatt.sim.traces.common import TraceError, integer, number, rows
from gigawatt.sim.workload import DEFAULT_TIER_MIX, Workload, assign_tiers, build_workload

COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")


def _timestamp(path: Path | str, line: int, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TraceError(
            path, f"timestamp is neither seconds nor a date-time: {text!r}", line
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def load_philly(
    path: Path | str,
    *,
    tier_mix: Mapping[Tier, float] | None = None,
    seed: int = 0,
) -> Workload:
    """Read a Philly trace; submit times are made relative to the first submission."""
    submit: list[float] = []
    duration: list[float] = []
    gpus: list[int] = []
    tenant: list[int] = []
    clusters: dict[str, int] = {}
    for line, row in rows(path, COLUMNS):
        submit.append(_timestamp(path, line, row["timestamp"]))
        duration.append(number(path, line, "duration", row["duration"]))
        g = integer(path, line, "num_gpus", row["num_gpus"])
        if g == 0:
            raise TraceError(path, "num_gpus must be at least 1", line)
        gpus.append(g)
        tenant.append(clusters.setdefault(row["cluster"] or "default", len(clusters)))
    if not submit:
        raise TraceError(path, "no jobs in the trace")
    t = np.array(submit, dtype=np.float64)
    t -= t.min()
    n = len(t)
    return build_workload(
        "philly",
        t,
        np.array(duration),
        np.array(gpus, dtype=np.int64),
        assign_tiers(n, tier_mix or DEFAULT_TIER_MIX, seed),
        np.array(tenant, dtype=np.int64),
        tuple(clusters),
        meta={"source": str(path), "rows": n},
    )
