"""What selling costs the internal wheel: the figures ``gigawatt value --from-sim`` reads.

Over the measured window ``[cut, end]`` (see :mod:`gigawatt.sim.window`):

- ``external_gpu_hours`` / ``external_revenue_usd``: GPU-hours allocated to reserved, on-demand
  and spot jobs in the window, and their revenue at the live price book;
- ``internal_gpu_hours``: GPU-hours allocated to internal jobs in the window (served);
- ``internal_demand_gpu_hours``: for internal jobs submitted in the window, GPUs x their run
  time, cut at the end of the run (what they would have received had each started at once);
- ``internal_mean_queue_s`` / ``internal_p95_queue_s``: queueing delay of internal jobs submitted
  in the window (rejected ones left out): first start - submission, or, for a job that never
  started, end of the run - submission (a censored wait).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gigawatt.core.tiers import Tier
from gigawatt.sim.twin import REJECTED, Twin
from gigawatt.sim.workload import TIER_CODE, FloatArray


def internal_wheel(twin: Twin, cut_s: float, end_s: float) -> dict[str, Any]:
    """Internal demand and queueing (censored) over jobs submitted in ``[cut_s, end_s]``."""
    w = twin.workload
    submit = w.submit_s
    mask = (
        (w.tier == TIER_CODE[Tier.INTERNAL])
        & (submit >= cut_s)
        & (np.array(twin.status, dtype=np.int64) != REJECTED)
    )
    first = np.array(twin.first_start, dtype=np.float64)
    waits: FloatArray = np.where(np.isnan(first), end_s, first)[mask] - submit[mask]
    run_s = np.minimum(w.duration_s, np.maximum(end_s - submit, 0.0))
    demand_s = math.fsum((run_s[mask] * w.gpus[mask]).tolist())
    return {
        "internal_demand_gpu_hours": demand_s / 3600.0,
        "internal_jobs_measured": int(mask.sum()),
        "internal_jobs_never_started": int(np.isnan(first[mask]).sum()),
        "internal_mean_queue_s": float(waits.mean()) if len(waits) else 0.0,
        "internal_p95_queue_s": float(np.percentile(waits, 95)) if len(waits) else 0.0,
    }
