"""Allocation over time from the twin's change log: integrals, peaks and binned series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gigawatt.sim.twin import Twin
from gigawatt.sim.workload import TIERS, FloatArray


def _integral(t: FloatArray, delta: FloatArray, edges: FloatArray) -> tuple[FloatArray, float]:
    """Integral of the step function with jumps ``delta`` at ``t``, at each edge; and its peak."""
    if len(t) == 0:
        return np.zeros(len(edges)), 0.0
    level = np.cumsum(delta)
    widths = np.diff(t, append=t[-1])
    area = np.concatenate(([0.0], np.cumsum(level * widths)))[:-1]
    at_edges = np.interp(edges, t, area, left=0.0, right=float(area[-1]))
    # np.interp treats repeated x as a single point; area is continuous, so this is exact.
    return at_edges, float(level.max(initial=0.0))


@dataclass(frozen=True, slots=True)
class Timeline:
    """Mean allocated GPUs per tier and mean IT power per site, in ``bins`` equal intervals.

    ``edges`` are the bin boundaries (seconds); ``gpus_by_tier[k]`` the mean GPUs of
    ``TIERS[k]`` in each bin; ``kw_by_site[s]`` the mean IT kW of site ``s``.
    """

    edges: FloatArray
    gpus_by_tier: FloatArray
    kw_by_site: FloatArray
    gpu_seconds_by_tier: FloatArray
    peak_gpus: float
    peak_kw_by_site: FloatArray
    mean_kw_by_site: FloatArray

    @property
    def gpu_seconds(self) -> float:
        """Integral of allocated GPUs over the whole window."""
        return float(self.gpu_seconds_by_tier.sum())


def build_timeline(twin: Twin, start_s: float, end_s: float, bins: int = 400) -> Timeline:
    """Bin the twin's allocation log over ``[start_s, end_s]``."""
    log, w = twin.log, twin.workload
    sites = len(twin.sites)
    t = np.array(log.t, dtype=np.float64)
    signed = np.array(log.job, dtype=np.int64)
    job = np.where(signed < 0, ~signed, signed)
    sign = np.where(signed < 0, -1.0, 1.0)
    tier = w.tier[job]
    gpus = (w.gpus[job] * sign).astype(np.float64)
    kw = gpus * np.array(twin.kw_per_gpu, dtype=np.float64)[w.gpu_type[job]]
    site = np.array(log.site, dtype=np.int64) if len(log.site) else np.zeros(len(t), np.int64)
    span = max(end_s - start_s, 1e-9)
    edges = np.linspace(start_s, start_s + span, bins + 1)
    width = np.diff(edges)
    by_tier = np.zeros((len(TIERS), bins))
    totals = np.zeros(len(TIERS))
    for k in range(len(TIERS)):
        mask = tier == k
        at_edges, _ = _integral(t[mask], gpus[mask], edges)
        by_tier[k] = np.diff(at_edges) / width
        totals[k] = at_edges[-1] - at_edges[0]
    _, peak = _integral(t, gpus, edges)
    by_site = np.zeros((sites, bins))
    peak_kw = np.zeros(sites)
    mean_kw = np.zeros(sites)
    for s in range(sites):
        mask = site == s
        at_edges, peak_kw[s] = _integral(t[mask], kw[mask], edges)
        by_site[s] = np.diff(at_edges) / width
        mean_kw[s] = (at_edges[-1] - at_edges[0]) / span
    return Timeline(edges, by_tier, by_site, totals, peak, peak_kw, mean_kw)
