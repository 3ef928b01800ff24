"""One twin run from options: choose the fleet, build the workload, drive the scheduler, summarise.

This is what ``gigawatt simulate`` and the benchmarks call; it does the file reading (the
engine and twin do none).
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from gigawatt.billing.prices import PriceBook
from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import FleetSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import Ordering, Reservation, SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.sim.fleets import choose_fleet, fleet_gpu_type, fleet_summary
from gigawatt.sim.generator import generate, generate_chunks
from gigawatt.sim.heap import HeapTrimmer
from gigawatt.sim.metrics import SimResult, summarise
from gigawatt.sim.reservations import load_fleet_file, resolve_all
from gigawatt.sim.stream import StreamTwin
from gigawatt.sim.stream_metrics import summarise_stream
from gigawatt.sim.traces import (
    InferenceModel,
    TraceFormat,
    detect_format,
    inference_workload,
    load_alibaba_pods,
    load_azure_requests,
    load_philly,
)
from gigawatt.sim.twin import Twin
from gigawatt.sim.window import Warmup, parse_warmup
from gigawatt.sim.workload import Workload, merge
from gigawatt.sim.workload_file import load_workload

_DAY = 86400.0
#: Generated workloads expected to hold more jobs than this run streaming (bounded memory).
STREAM_FROM = 250_000
#: Simulated days per generated chunk of a streaming run (1.2 M jobs a day on a 1 GW fleet:
#: a quarter of a day keeps the chunk and its generation small next to the jobs running).
CHUNK_DAYS = 0.25


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Everything ``gigawatt simulate`` accepts (paths are read by :func:`prepare`)."""

    trace: Path | None = None
    workload: Path | None = None
    fleet: Path | None = None
    gpus: int | None = None
    power: str | None = None
    gpu: str | None = None
    nodes: Path | None = None
    policy: Ordering = Ordering.PRIORITY
    days: float | None = None
    load: float | None = None
    time_scale: float | None = None
    seed: int = 0
    tier_mix: Mapping[Tier, float] | None = None
    demand_scale: float = 1.0
    #: ``auto``, ``none`` or seconds: see :mod:`gigawatt.sim.window`.
    warmup: Warmup = "auto"
    #: At most this many GPUs run external tiers (the scheduler's cap); None = no cap.
    external_cap_gpus: int | None = None
    #: Streaming run (bounded memory, :mod:`gigawatt.sim.stream`) for a generated workload:
    #: None = when it is expected to hold more than ``STREAM_FROM`` jobs.
    stream: bool | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.trace is None and self.workload is None:
            raise InvalidInput("give a trace (--trace FILE) or a workload (--workload FILE.yaml)")
        if self.load is not None and self.time_scale is not None:
            raise InvalidInput("give only one of --load and --time-scale", "load")
        if self.days is not None and not self.days > 0:
            raise InvalidInput(f"must be > 0, got {self.days}", "days")
        if self.gpus is not None and self.gpus < 1:
            raise InvalidInput(f"must be a positive number of GPUs, got {self.gpus}", "gpus")
        object.__setattr__(self, "warmup", parse_warmup(self.warmup))
        if self.external_cap_gpus is not None and self.external_cap_gpus < 0:
            raise InvalidInput(f"must be >= 0, got {self.external_cap_gpus}", "external_cap_gpus")
        if isinstance(self.warmup, float) and self.days and self.warmup >= self.days * _DAY:
            raise InvalidInput(
                f"{self.warmup:g} s is not shorter than the run ({self.days * _DAY:g} s)", "warmup"
            )

    def scheduling_policy(self) -> SchedulingPolicy:
        """The live scheduler's policy these options ask for (ordering, external cap)."""
        return SchedulingPolicy(ordering=self.policy, external_cap_gpus=self.external_cap_gpus)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A fleet, a workload and the virtual time limit, ready to run."""

    fleet: FleetSpec
    workload: Workload
    horizon_s: float | None
    #: The fleet came from a fleet file: its sites' IT MW describe its power.
    power_from_sites: bool = False
    #: Streaming runs: the workload's chunks (``workload`` is then the first one).
    chunks: Callable[[], Iterator[Workload]] | None = None
    #: Reservations the workload and fleet files declare (added to the policy's).
    reservations: tuple[Reservation, ...] = ()


def _trace_workload(options: SimOptions, fleet: FleetSpec, catalogue: Catalogue) -> Workload:
    assert options.trace is not None
    fmt = detect_format(options.trace)
    if fmt is TraceFormat.PHILLY:
        return load_philly(options.trace, tier_mix=options.tier_mix, seed=options.seed)
    if fmt is TraceFormat.ALIBABA_PODS:
        return load_alibaba_pods(options.trace)
    if fmt is TraceFormat.AZURE_LLM:
        gpu_type = fleet_gpu_type(fleet)
        model = InferenceModel(
            tokens_per_gpu_s=catalogue.get(gpu_type).tokens_per_second,
            demand_scale=options.demand_scale,
        )
        return inference_workload(load_azure_requests(options.trace), model)
    raise InvalidInput(
        f"{options.trace} is an Alibaba node list: pass it as --nodes to build the fleet", "trace"
    )


def prepare(options: SimOptions, catalogue: Catalogue) -> Prepared:
    """Read the fleet and workload the options name, scaled to the requested load and days."""
    fleet = choose_fleet(
        catalogue,
        fleet_file=options.fleet,
        gpus=options.gpus,
        power=options.power,
        gpu_type=options.gpu,
        nodes_file=options.nodes,
    )
    default_type = fleet_gpu_type(fleet)
    spec = load_workload(options.workload) if options.workload is not None else None
    declared = load_fleet_file(options.fleet, catalogue)[1] if options.fleet is not None else []
    if spec is not None:
        declared += spec.reservation_specs()
    reservations = resolve_all(declared, default_type)
    horizon = None if options.days is None else options.days * _DAY
    if options.trace is not None:
        w = _trace_workload(options, fleet, catalogue).resolve_gpu_type(default_type)
        if options.load is not None:
            w = w.at_load(options.load, fleet.total_gpus())
        elif options.time_scale is not None:
            w = w.time_scaled(options.time_scale)
        if horizon is not None:
            w = w.until(horizon)
        if spec is not None:
            days = (w.span_s / _DAY) if horizon is None else options.days
            extra = generate(spec, fleet, catalogue, seed=options.seed, days=days or spec.days)
            w = merge(w.with_settings(spec.settings), extra)
    else:
        assert spec is not None
        if options.time_scale is not None:
            raise InvalidInput("--time-scale applies to traces; use --load for a workload")
        days = options.days or spec.days
        horizon = days * _DAY
        chunk = dict(seed=options.seed, days=days, load=options.load, chunk_days=CHUNK_DAYS)
        first = next(generate_chunks(spec, fleet, catalogue, **chunk))  # type: ignore[arg-type]
        expected = len(first) * days / min(days, CHUNK_DAYS)
        stream = options.stream if options.stream is not None else expected > STREAM_FROM
        if stream:

            def chunks() -> Iterator[Workload]:
                rest = generate_chunks(spec, fleet, catalogue, first_chunk=1, **chunk)  # type: ignore[arg-type]
                return itertools.chain([first], rest)

            return Prepared(
                fleet,
                first,
                horizon,
                power_from_sites=options.fleet is not None,
                chunks=chunks,
                reservations=reservations,
            )
        w = (
            first
            if days <= CHUNK_DAYS
            else generate(
                spec, fleet, catalogue, seed=options.seed, days=options.days, load=options.load
            )
        )
    if len(w) == 0:
        raise InvalidInput("the workload has no jobs")
    if isinstance(options.warmup, float) and horizon is not None and options.warmup >= horizon:
        raise InvalidInput(
            f"{options.warmup:g} s is not shorter than the run ({horizon:g} s)", "warmup"
        )
    return Prepared(
        fleet, w, horizon, power_from_sites=options.fleet is not None, reservations=reservations
    )


def simulate(
    prepared: Prepared,
    catalogue: Catalogue,
    policy: SchedulingPolicy,
    *,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    extra: Mapping[str, object] | None = None,
    warmup: Warmup = "auto",
) -> SimResult:
    """Run the twin with the live scheduler and summarise (wall time includes both); the
    figures cover the window after ``warmup`` (:mod:`gigawatt.sim.window`)."""
    started = time.perf_counter()
    if prepared.reservations:
        policy = replace(policy, reservations=policy.reservations + prepared.reservations)
    # The collector stays off until the run's objects are freed (see the function): a run
    # makes no reference cycles, and the exact twin's runs as much as the streaming one's.
    job = _RunJob(prepared, catalogue, policy, seed, progress, extra, warmup, started)
    with _collector_paused():
        return _simulate_stream(job) if prepared.chunks is not None else _simulate_exact(job)


@dataclass(frozen=True, slots=True)
class _RunJob:
    """What one run needs (the arguments of :func:`simulate`, the policy with reservations)."""

    prepared: Prepared
    catalogue: Catalogue
    policy: SchedulingPolicy
    seed: int
    progress: Callable[[float], None] | None
    extra: Mapping[str, object] | None
    warmup: Warmup
    started: float

    def info(self) -> dict[str, object]:
        """The run's settings for the summary."""
        prepared, policy = self.prepared, self.policy
        info: dict[str, object] = {
            "policy": policy.ordering.value,
            "seed": self.seed,
            "workload": prepared.workload.name,
            "warmup": self.warmup,
            "external_cap_gpus": policy.external_cap_gpus,
            "fleet": fleet_summary(
                prepared.fleet, self.catalogue, power_from_sites=prepared.power_from_sites
            ),
        }
        info.update(self.extra or {})
        return info


def _simulate_exact(job: _RunJob) -> SimResult:
    """A run that keeps every job (:class:`~gigawatt.sim.twin.Twin`): exact percentiles.
    The scheduler and the twin live in this frame only, so they are freed when it returns."""
    prepared = job.prepared
    scheduler = Scheduler.for_fleet(prepared.fleet, job.catalogue, job.policy)
    twin = Twin(prepared.workload, prepared.fleet, job.catalogue, scheduler, seed=job.seed)
    end = twin.run(prepared.horizon_s, progress=job.progress, release_at_end=False)
    wall = time.perf_counter() - job.started
    prices = PriceBook.from_catalogue(job.catalogue)
    return summarise(twin, end, prices, wall_s=wall, extra=job.info(), warmup=job.warmup)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, back as it was after.

    A run allocates and frees millions of small objects and makes no reference
    cycles (tests/sim/test_sim_stream.py checks): refcounting frees them all, and the collector
    would only rescan the live jobs again and again (16% of a gigawatt run's CPU). It stays off
    until the run's scheduler and twin are freed: switched back on while they live, its first
    pass walks every object the run allocated (1.7 s after a one-day gigawatt run, 7% of it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _simulate_stream(job: _RunJob) -> SimResult:
    """A streaming run: bounded memory, the same events and decisions (:mod:`.stream`).
    The scheduler and the twin live in this frame only, so they are freed when it returns."""
    prepared = job.prepared
    assert prepared.chunks is not None
    scheduler = Scheduler.for_fleet(prepared.fleet, job.catalogue, job.policy)
    t0 = float(prepared.workload.submit_s[0])
    warmup = job.warmup
    fixed = t0 + warmup if isinstance(warmup, float) and warmup > 0 else None
    twin = StreamTwin(
        prepared.chunks(),
        prepared.fleet,
        job.catalogue,
        scheduler,
        horizon_s=prepared.horizon_s,
        seed=job.seed,
        fixed_cut_s=fixed,
        between_chunks=HeapTrimmer(),
    )
    end = twin.run(progress=job.progress)
    wall = time.perf_counter() - job.started
    prices = PriceBook.from_catalogue(job.catalogue)
    return summarise_stream(twin, end, prices, wall_s=wall, extra=job.info(), warmup=warmup)


def run(
    options: SimOptions,
    catalogue: Catalogue,
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """:func:`prepare` then :func:`simulate` with the options' policy and seed."""
    prepared = prepare(options, catalogue)
    return simulate(
        prepared,
        catalogue,
        options.scheduling_policy(),
        seed=options.seed,
        progress=progress,
        warmup=options.warmup,
    )
