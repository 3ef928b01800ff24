"""A workload: the jobs a twin run submits, held as columns (numpy arrays), not objects.

Columns keep loaders, the generator and load scaling vectorised: a million generated jobs are
eight arrays, not a million Python objects. The engine reads one row at a time on arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Tier codes used in the ``tier`` column (index into this tuple).
TIERS: tuple[Tier, ...] = (Tier.INTERNAL, Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT)
TIER_CODE: Mapping[Tier, int] = {t: i for i, t in enumerate(TIERS)}
#: Placeholder GPU type: "whatever the fleet has" (resolved before a run).
FLEET_GPU = ""


class Restart(StrEnum):
    """What a preempted or failed job keeps: nothing, or the work up to its last checkpoint."""

    FROM_ZERO = "from_zero"
    CHECKPOINT = "checkpoint"


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Per-workload behaviour of jobs in the twin.

    ``mtbf_gpu_hours``: mean GPU-hours between failures of one GPU (a job of g GPUs fails at
    rate g / MTBF); ``None`` or 0 disables failure injection. A failed job is retried up to
    ``max_retries`` times, then ends ``failed``.
    """

    restart: Restart = Restart.FROM_ZERO
    checkpoint_interval_s: float = 1800.0
    mtbf_gpu_hours: float | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if not self.checkpoint_interval_s > 0:
            raise InvalidInput("must be > 0", "checkpoint_interval_s")
        if self.mtbf_gpu_hours is not None and self.mtbf_gpu_hours < 0:
            raise InvalidInput("must be >= 0", "mtbf_gpu_hours")
        if self.max_retries < 0:
            raise InvalidInput("must be >= 0", "max_retries")


@dataclass(frozen=True, slots=True)
class Workload:
    """Jobs in submission order (``submit_s`` non-decreasing), one row per job.

    ``tier`` holds codes into :data:`TIERS`; ``tenant`` and ``gpu_type`` hold codes into
    ``tenants`` and ``gpu_types``. ``meta`` carries loader facts (rows read, rows skipped).
    """

    name: str
    submit_s: FloatArray
    duration_s: FloatArray
    gpus: IntArray
    tier: IntArray
    tenant: IntArray
    tenants: tuple[str, ...]
    gpu_type: IntArray
    gpu_types: tuple[str, ...]
    priority: IntArray
    settings: RunSettings = field(default_factory=RunSettings)
    meta: Mapping[str, float | int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.submit_s)
        for col in ("duration_s", "gpus", "tier", "tenant", "gpu_type", "priority"):
            if len(getattr(self, col)) != n:
                raise ValueError(f"column {col} has {len(getattr(self, col))} rows, expected {n}")
        if n and np.any(np.diff(self.submit_s) < 0):
            raise ValueError("submit_s must be sorted")

    def __len__(self) -> int:
        return len(self.submit_s)

    @property
    def offered_gpu_seconds(self) -> float:
        """Sum of GPUs x duration over all jobs."""
        return float(np.dot(self.gpus.astype(np.float64), self.duration_s))

    @property
    def span_s(self) -> float:
        """Time from the first to the last submission (0 for fewer than two jobs)."""
        return float(self.submit_s[-1] - self.submit_s[0]) if len(self) > 1 else 0.0

    def offered_load(self, fleet_gpus: int) -> float:
        """GPU-seconds asked for per GPU-second of fleet over the arrival span."""
        span = self.span_s
        if span <= 0 or fleet_gpus <= 0:
            return 0.0
        return self.offered_gpu_seconds / (fleet_gpus * span)

    def with_settings(self, settings: RunSettings) -> Workload:
        """The same jobs with other run settings."""
        return replace(self, settings=settings)

    def resolve_gpu_type(self, gpu_type: str) -> Workload:
        """Replace the fleet placeholder GPU type by ``gpu_type``."""
        if FLEET_GPU not in self.gpu_types:
            return self
        names = tuple(gpu_type if g == FLEET_GPU else g for g in self.gpu_types)
        unique = tuple(dict.fromkeys(names))
        remap = np.array([unique.index(g) for g in names], dtype=np.int64)
        return replace(self, gpu_type=remap[self.gpu_type], gpu_types=unique)

    def time_scaled(self, factor: float) -> Workload:
        """Arrivals stretched by ``factor`` about the first submission (< 1 compresses)."""
        if not factor > 0:
            raise InvalidInput(f"must be > 0, got {factor}", "time_scale")
        if len(self) == 0:
            return self
        t0 = self.submit_s[0]
        return replace(self, submit_s=t0 + (self.submit_s - t0) * factor)

    def at_load(self, load: float, fleet_gpus: int) -> Workload:
        """Arrivals stretched so that the offered load on ``fleet_gpus`` GPUs is ``load``."""
        if not load > 0:
            raise InvalidInput(f"must be > 0, got {load}", "load")
        current = self.offered_load(fleet_gpus)
        if current <= 0:
            raise InvalidInput("the workload has no arrival span to stretch", "load")
        return self.time_scaled(current / load)

    def until(self, horizon_s: float) -> Workload:
        """Only the jobs submitted before ``horizon_s`` after the first submission."""
        if len(self) == 0:
            return self
        n = int(np.searchsorted(self.submit_s, self.submit_s[0] + horizon_s, side="left"))
        return self.take(np.arange(n))

    def take(self, rows: IntArray) -> Workload:
        """A workload with the given rows (kept in the given order, which must stay sorted)."""
        return replace(
            self,
            submit_s=self.submit_s[rows],
            duration_s=self.duration_s[rows],
            gpus=self.gpus[rows],
            tier=self.tier[rows],
            tenant=self.tenant[rows],
            gpu_type=self.gpu_type[rows],
            priority=self.priority[rows],
        )


def build_workload(
    name: str,
    submit_s: npt.ArrayLike,
    duration_s: npt.ArrayLike,
    gpus: npt.ArrayLike,
    tier: npt.ArrayLike,
    tenant: npt.ArrayLike,
    tenants: tuple[str, ...],
    *,
    gpu_type: npt.ArrayLike | None = None,
    gpu_types: tuple[str, ...] = (FLEET_GPU,),
    priority: npt.ArrayLike | None = None,
    settings: RunSettings | None = None,
    meta: Mapping[str, float | int | str] | None = None,
) -> Workload:
    """A :class:`Workload` from unsorted columns: rows are sorted by submission (stable)."""
    submit = np.asarray(submit_s, dtype=np.float64)
    order = np.argsort(submit, kind="stable")
    n = len(submit)
    zeros = np.zeros(n, dtype=np.int64)
    return Workload(
        name=name,
        submit_s=submit[order],
        duration_s=np.asarray(duration_s, dtype=np.float64)[order],
        gpus=np.asarray(gpus, dtype=np.int64)[order],
        tier=np.asarray(tier, dtype=np.int64)[order],
        tenant=np.asarray(tenant, dtype=np.int64)[order],
        tenants=tenants,
        gpu_type=(zeros if gpu_type is None else np.asarray(gpu_type, dtype=np.int64))[order],
        gpu_types=gpu_types,
        priority=(zeros if priority is None else np.asarray(priority, dtype=np.int64))[order],
        settings=settings or RunSettings(),
        meta=dict(meta or {}),
    )


def assign_tiers(n: int, shares: Mapping[Tier, float], seed: int) -> IntArray:
    """Tier codes for ``n`` jobs drawn with ``shares`` (normalised), reproducible by ``seed``."""
    weights = np.array([max(0.0, float(shares.get(t, 0.0))) for t in TIERS])
    if weights.sum() <= 0:
        raise InvalidInput("tier shares must have a positive total", "tier_mix")
    rng = np.random.default_rng(seed)
    return rng.choice(len(TIERS), size=n, p=weights / weights.sum()).astype(np.int64)


#: Tier mix given to traces that carry no tiers (Philly): a cloud that sells most of its fleet.
DEFAULT_TIER_MIX: Mapping[Tier, float] = {
    Tier.INTERNAL: 0.4,
    Tier.RESERVED: 0.2,
    Tier.ON_DEMAND: 0.2,
    Tier.SPOT: 0.2,
}


def merge(a: Workload, b: Workload, name: str | None = None) -> Workload:
    """Both workloads' jobs in one (``a``'s settings), re-sorted by submission time."""
    tenants = tuple(dict.fromkeys(a.tenants + b.tenants))
    types = tuple(dict.fromkeys(a.gpu_types + b.gpu_types))
    remap_tenant = np.array([tenants.index(x) for x in b.tenants], dtype=np.int64)
    remap_type = np.array([types.index(x) for x in b.gpu_types], dtype=np.int64)
    a_tenant = np.array([tenants.index(x) for x in a.tenants], dtype=np.int64)[a.tenant]
    a_type = np.array([types.index(x) for x in a.gpu_types], dtype=np.int64)[a.gpu_type]
    return build_workload(
        name or f"{a.name}+{b.name}",
        np.concatenate((a.submit_s, b.submit_s)),
        np.concatenate((a.duration_s, b.duration_s)),
        np.concatenate((a.gpus, b.gpus)),
        np.concatenate((a.tier, b.tier)),
        np.concatenate((a_tenant, remap_tenant[b.tenant])),
        tenants,
        gpu_type=np.concatenate((a_type, remap_type[b.gpu_type])),
        gpu_types=types,
        priority=np.concatenate((a.priority, b.priority)),
        settings=a.settings,
        meta={**b.meta, **a.meta},
    )
