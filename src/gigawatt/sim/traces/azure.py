"""Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens``).

The requests become inference *demand* that occupies GPUs through a deployment of model
replicas (the model is documented in docs/simulator.md):

1. each request costs ``generated + prefill_weight x context`` decode-token equivalents
   (prefill is batched and compute-bound, far cheaper per token than decoding);
2. the demand is summed over windows of ``window_s`` seconds and multiplied by
   ``demand_scale`` (how many such services the fleet serves);
3. a replica of ``gpus_per_replica`` GPUs serves ``tokens_per_gpu_s x gpus_per_replica x
   target_utilization`` tokens per second, ``tokens_per_gpu_s`` being the catalogue's
   ``tokens_per_second`` of the fleet's GPU type;
4. each window needs ``max(min_replicas, ceil(demand / replica capacity))`` replicas; replica k
   is one job for every maximal run of windows needing at least k replicas (an autoscaler
   that adds the k-th replica when demand crosses it and removes it when demand falls back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.sim.traces.common import Columns, TraceError
from gigawatt.sim.traces.timestamps import seconds_or_datetimes
from gigawatt.sim.workload import TIER_CODE, FloatArray, IntArray, Workload, build_workload

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True, slots=True)
class Requests:
    """Inference requests: arrival (seconds from the first), context and generated tokens."""

    name: str
    at_s: FloatArray
    context_tokens: IntArray
    generated_tokens: IntArray

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last request."""
        return float(self.at_s[-1] - self.at_s[0]) if len(self.at_s) > 1 else 0.0

    @property
    def requests_per_s(self) -> float:
        """Mean arrival rate over the span."""
        return len(self.at_s) / self.span_s if self.span_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class InferenceModel:
    """How token demand turns into replica-GPU occupancy (see the module docstring)."""

    tokens_per_gpu_s: float
    gpus_per_replica: int = 8
    target_utilization: float = 0.7
    prefill_weight: float = 0.1
    window_s: float = 60.0
    demand_scale: float = 1.0
    min_replicas: int = 1
    tier: Tier = Tier.ON_DEMAND

    def __post_init__(self) -> None:
        for name in ("tokens_per_gpu_s", "target_utilization", "window_s", "demand_scale"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"must be > 0, got {getattr(self, name)}", name)
        if self.gpus_per_replica < 1 or self.min_replicas < 0 or self.prefill_weight < 0:
            raise InvalidInput("gpus_per_replica >= 1, min_replicas and prefill_weight >= 0")

    @property
    def replica_tokens_s(self) -> float:
        """Decode tokens per second one replica serves at its target utilisation."""
        return self.tokens_per_gpu_s * self.gpus_per_replica * self.target_utilization


def load_azure_requests(path: Path | str) -> Requests:
    """Read the request trace; times are made relative to the first request."""
    cols = Columns(path, COLUMNS)
    if not len(cols):
        raise TraceError(path, "no requests in the trace")
    t = seconds_or_datetimes(cols, "TIMESTAMP")
    order = np.argsort(t, kind="stable")
    return Requests(
        name=Path(path).stem,
        at_s=(t - t.min())[order],
        context_tokens=cols.integers("ContextTokens")[order],
        generated_tokens=cols.integers("GeneratedTokens")[order],
    )


def replica_counts(requests: Requests, model: InferenceModel) -> IntArray:
    """Replicas needed in each window of ``model.window_s`` seconds."""
    windows = max(1, math.ceil((requests.span_s + 1e-9) / model.window_s))
    bucket = np.minimum((requests.at_s // model.window_s).astype(np.int64), windows - 1)
    work = requests.generated_tokens + model.prefill_weight * requests.context_tokens
    demand = np.bincount(bucket, weights=work, minlength=windows) / model.window_s
    return replicas_for_demand(demand, model)


def replicas_for_demand(demand_tokens_s: FloatArray, model: InferenceModel) -> IntArray:
    """Replicas for each window's demand (decode-token equivalents per second, unscaled)."""
    need = np.ceil(demand_tokens_s * model.demand_scale / model.replica_tokens_s - 1e-9)
    return np.maximum(need.astype(np.int64), model.min_replicas)


def staircase(counts: IntArray, window_s: float) -> tuple[FloatArray, FloatArray]:
    """Start times and durations of replica jobs: replica k runs for every maximal run of
    windows that need at least k replicas."""
    starts: list[FloatArray] = []
    durations: list[FloatArray] = []
    padded = np.concatenate(([0], counts, [0]))
    for k in range(1, int(counts.max(initial=0)) + 1):
        edges = np.diff((padded >= k).astype(np.int8))
        begin = np.flatnonzero(edges == 1)
        end = np.flatnonzero(edges == -1)
        starts.append((begin * window_s).astype(np.float64))
        durations.append(((end - begin) * window_s).astype(np.float64))
    if not starts:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(starts).astype(np.float64), np.concatenate(durations).astype(np.float64)


def inference_workload(requests: Requests, model: InferenceModel) -> Workload:
    """Replica jobs that carry the requests' demand (one job per replica-level interval)."""
    counts = replica_counts(requests, model)
    starts, durations = staircase(counts, model.window_s)
    n = len(starts)
    return build_workload(
        f"inference:{requests.name}",
        starts,
        durations,
        np.full(n, model.gpus_per_replica, dtype=np.int64),
        np.full(n, TIER_CODE[model.tier], dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        (requests.name,),
        meta={
            "requests": len(requests.at_s),
            "peak_replicas": int(counts.max(initial=0)),
            "mean_replicas": float(counts.mean()) if len(counts) else 0.0,
        },
    )
