"""The workload generator: jobs for each tenant class of a :class:`WorkloadSpec`, on a fleet.

Arrivals are a Poisson process whose rate follows the class's 24-hour pattern (thinning).
Sizes and durations are drawn independently from the class's distributions; sizes larger
than a node are rounded up to whole nodes (the scheduler places gangs on whole nodes) and
capped at the largest gang the fleet holds. Inference classes become replica jobs through the
Azure inference model (:mod:`gigawatt.sim.traces.azure`): Poisson request counts per window x
mean work per request = demand, demand -> replicas -> one job per replica-level interval.

Rates scale with the fleet (``share`` of the load, or per 1,000 GPUs), so one workload file
describes a 2,000-GPU cluster and a gigawatt fleet alike. Same spec, fleet and seed: same jobs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import FleetSpec
from gigawatt.sim import calibration
from gigawatt.sim.fleets import fleet_gpu_type
from gigawatt.sim.traces.azure import InferenceModel, replicas_for_demand, staircase
from gigawatt.sim.workload import TIER_CODE, FloatArray, IntArray, Workload, build_workload
from gigawatt.sim.workload_file import (
    FixedDuration,
    JobClass,
    LognormalDurations,
    WorkloadSpec,
)

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class _Shape:
    """A batch class's size pmf (after rounding), duration sampler and mean work per job."""

    sizes: IntArray
    probs: FloatArray
    mean_duration_s: float

    @property
    def mean_gpu_s(self) -> float:
        return float(np.dot(self.sizes, self.probs)) * self.mean_duration_s


def _weights(c: JobClass) -> FloatArray:
    if isinstance(c.diurnal, list):
        raw = np.array(c.diurnal, dtype=np.float64)
    elif c.diurnal == "flat":
        raw = np.ones(24)
    else:
        raw = np.array(calibration.jobs(c.diurnal).hourly_weights)
    out: FloatArray = raw / raw.mean()
    return out


def _calibrated_mean(quantiles: tuple[float, ...]) -> float:
    """Mean of the distribution that is uniform in log(1+s) between percentiles."""
    a = np.log1p(np.array(quantiles[:-1]))
    b = np.log1p(np.array(quantiles[1:]))
    mass = np.diff(calibration.PERCENTILES) / 100.0
    width = b - a
    safe = np.where(width > 1e-12, width, 1.0)
    seg = np.where(width > 1e-12, (np.exp(b) - np.exp(a)) / safe, np.exp(a)) - 1.0
    return float(np.dot(mass, seg))


def _shape(c: JobClass, per_node: int, max_gang: int) -> _Shape:
    if isinstance(c.sizes, dict):
        pmf = {int(k): float(v) for k, v in c.sizes.items()}
    else:
        pmf = dict(calibration.jobs(c.sizes).sizes)
    merged: dict[int, float] = {}
    for gpus, p in pmf.items():
        g = gpus * c.size_scale
        if g > per_node:
            g = math.ceil(g / per_node) * per_node
        g = min(g, max_gang)
        merged[g] = merged.get(g, 0.0) + p
    sizes = np.array(sorted(merged), dtype=np.int64)
    probs = np.array([merged[int(s)] for s in sizes])
    if isinstance(c.durations, LognormalDurations):
        ln = c.durations.lognormal
        mean = ln.median_s * math.exp(ln.sigma**2 / 2)
    elif isinstance(c.durations, FixedDuration):
        mean = c.durations.fixed_s
    else:
        mean = _calibrated_mean(calibration.jobs(c.durations).duration_quantiles_s)
    return _Shape(sizes, probs / probs.sum(), mean * c.duration_scale)


def _durations(c: JobClass, rng: np.random.Generator, n: int) -> FloatArray:
    if isinstance(c.durations, LognormalDurations):
        ln = c.durations.lognormal
        d = ln.median_s * np.exp(ln.sigma * rng.standard_normal(n))
    elif isinstance(c.durations, FixedDuration):
        d = np.full(n, c.durations.fixed_s)
    else:
        d = calibration.jobs(c.durations).sample_durations(rng, n)
    return np.maximum(d * c.duration_scale, 1.0)


def _arrivals(
    rate_s: float, weights: FloatArray, horizon_s: float, rng: np.random.Generator
) -> FloatArray:
    """Non-homogeneous Poisson arrivals on [0, horizon) by thinning."""
    peak = rate_s * float(weights.max())
    n = int(rng.poisson(peak * horizon_s))
    t = np.sort(rng.random(n) * horizon_s)
    hour = ((t // _HOUR) % 24).astype(np.int64)
    keep = rng.random(n) * weights.max() < weights[hour]
    out: FloatArray = t[keep]
    return out


def _inference_model(c: JobClass, tokens_per_gpu_s: float, demand_scale: float) -> InferenceModel:
    return InferenceModel(
        tokens_per_gpu_s=tokens_per_gpu_s,
        gpus_per_replica=c.gpus_per_replica,
        target_utilization=c.target_utilization,
        prefill_weight=c.prefill_weight,
        window_s=c.window_s,
        demand_scale=demand_scale,
        min_replicas=c.min_replicas,
        tier=c.tier,
    )


def _work_per_request(c: JobClass) -> float:
    r = calibration.requests(c.requests)
    return r.mean_generated_tokens + c.prefill_weight * r.mean_context_tokens


def generate(
    spec: WorkloadSpec,
    fleet: FleetSpec,
    catalogue: Catalogue,
    *,
    seed: int | None = None,
    days: float | None = None,
    load: float | None = None,
) -> Workload:
    """Jobs for ``spec`` on ``fleet``; ``seed``, ``days`` and ``load`` override the file's."""
    the_seed = spec.seed if seed is None else seed
    horizon = (spec.days if days is None else days) * 86400.0
    target = spec.load if load is None else load
    fleet_gpus = fleet.total_gpus()
    default_type = fleet_gpu_type(fleet)
    groups = [g for s in fleet.sites for g in s.node_groups]
    # Per class: base rate (jobs/s or requests/s) and offered GPUs at that rate.
    plans: list[tuple[JobClass, str, float, float, _Shape | None]] = []
    for c in spec.classes:
        gpu_type = catalogue.get(c.gpu_type or default_type).name
        mine = [g for g in groups if g.gpu_type == gpu_type]
        if not mine:
            raise InvalidInput(f"class {c.name}: no {gpu_type} GPUs in the fleet", "workload")
        per_node = max(g.gpus_per_node for g in mine)
        max_gang = max(g.gpus_per_node * g.count for g in mine)
        if c.kind == "inference":
            tps = catalogue.get(gpu_type).tokens_per_second * c.target_utilization
            gpus_per_request_s = _work_per_request(c) / tps
            if c.share is not None:
                rate = c.share * (target or 1.0) * fleet_gpus / gpus_per_request_s
            else:
                rate = float(c.requests_per_s or 0.0)
            plans.append((c, gpu_type, rate, rate * gpus_per_request_s, None))
            continue
        shape = _shape(c, per_node, max_gang)
        if c.share is not None:
            rate = c.share * (target or 1.0) * fleet_gpus / shape.mean_gpu_s
        elif c.jobs_per_hour is not None:
            rate = c.jobs_per_hour / _HOUR
        else:
            rate = (c.jobs_per_hour_per_1000_gpus or 0.0) * fleet_gpus / 1000.0 / _HOUR
        plans.append((c, gpu_type, rate, rate * shape.mean_gpu_s, shape))
    offered = sum(p[3] for p in plans) / fleet_gpus
    factor = target / offered if target is not None and offered > 0 else 1.0

    rng = np.random.default_rng(the_seed)
    types = tuple(dict.fromkeys(p[1] for p in plans))
    cols: dict[str, list[npt.NDArray[np.generic]]] = {
        k: [] for k in ("t", "d", "g", "tier", "ten", "gt", "pr")
    }
    tenants: list[str] = []
    for c, gpu_type, rate, _, maybe_shape in plans:
        weights = _weights(c)
        if maybe_shape is None:
            t, d, g = _inference_jobs(c, catalogue, gpu_type, rate * factor, weights, horizon, rng)
        else:
            t = _arrivals(rate * factor, weights, horizon, rng)
            g = rng.choice(maybe_shape.sizes, size=len(t), p=maybe_shape.probs)
            d = _durations(c, rng, len(t))
        n = len(t)
        base = len(tenants)
        tenants.extend(f"{c.name}-{k}" if c.tenants > 1 else c.name for k in range(c.tenants))
        cols["t"].append(t)
        cols["d"].append(d)
        cols["g"].append(g.astype(np.int64))
        cols["tier"].append(np.full(n, TIER_CODE[c.tier], dtype=np.int64))
        cols["ten"].append(base + rng.integers(0, c.tenants, size=n))
        cols["gt"].append(np.full(n, types.index(gpu_type), dtype=np.int64))
        cols["pr"].append(np.full(n, c.priority, dtype=np.int64))
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    if len(cat["t"]) == 0:
        raise InvalidInput(
            "the workload generates no jobs (rates too low for the horizon)", "workload"
        )
    return build_workload(
        spec.name,
        cat["t"],
        cat["d"],
        cat["g"],
        cat["tier"],
        cat["ten"],
        tuple(tenants),
        gpu_type=cat["gt"],
        gpu_types=types,
        priority=cat["pr"],
        settings=spec.settings,
        meta={"generated": True, "seed": the_seed, "offered_load": offered * factor},
    )


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk`` of :func:`generate_chunks` (chunk 0: ``seed`` itself)."""
    if chunk == 0:
        return seed
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def generate_chunks(
    spec: WorkloadSpec,
    fleet: FleetSpec,
    catalogue: Catalogue,
    *,
    seed: int | None = None,
    days: float | None = None,
    load: float | None = None,
    chunk_days: float = 1.0,
    first_chunk: int = 0,
) -> Iterator[Workload]:
    """The jobs of ``spec`` over ``days`` in consecutive chunks of ``chunk_days`` (the last one
    shorter), each generated on its own (seed :func:`chunk_seed`) and shifted to its place;
    ``meta["chunk_end_s"]`` is the time its arrivals end before, so the streaming twin plays a
    chunk before the next one is generated. Chunk 0 is ``generate(spec, ...,
    days=min(days, chunk_days))`` itself; a later chunk with no jobs is skipped. Inference
    replicas do not carry over a chunk boundary (each chunk starts its own staircase)."""
    the_seed = spec.seed if seed is None else seed
    total = spec.days if days is None else days
    count = max(1, math.ceil(total / chunk_days - 1e-9))
    for c in range(first_chunk, count):
        length = min(chunk_days, total - c * chunk_days)
        try:
            w = generate(
                spec, fleet, catalogue, seed=chunk_seed(the_seed, c), days=length, load=load
            )
        except InvalidInput:
            if c == 0:
                raise
            continue
        end = {"chunk_end_s": (c * chunk_days + length) * 86400.0}
        shifted = w.submit_s + c * chunk_days * 86400.0 if c else w.submit_s
        yield replace(w, submit_s=shifted, meta={**w.meta, **end})


def _inference_jobs(
    c: JobClass,
    catalogue: Catalogue,
    gpu_type: str,
    requests_per_s: float,
    weights: FloatArray,
    horizon: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, IntArray]:
    windows = max(1, math.ceil(horizon / c.window_s))
    mid = (np.arange(windows) + 0.5) * c.window_s
    hour = ((mid // _HOUR) % 24).astype(np.int64)
    counts = rng.poisson(requests_per_s * c.window_s * weights[hour])
    demand = (counts * _work_per_request(c) / c.window_s).astype(np.float64)
    model = _inference_model(c, catalogue.get(gpu_type).tokens_per_second, 1.0)
    starts, durations = staircase(replicas_for_demand(demand, model), c.window_s)
    return starts, durations, np.full(len(starts), c.gpus_per_replica, dtype=np.int64)
