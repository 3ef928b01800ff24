"""Workload files (YAML): tenant classes the generator draws jobs for, validated with pydantic.

Example (more in ``gigawatt/sim/workloads/``)::

    name: cloud-mix
    days: 7
    load: 0.85                  # total offered load (GPU-seconds asked / fleet GPU-seconds)
    restart: checkpoint         # or from_zero
    checkpoint_interval_s: 1800
    failures: {mtbf_gpu_hours: 50000, max_retries: 3}
    classes:
      - {name: research, tier: internal, share: 0.4, sizes: philly, size_scale: 8,
         durations: philly, diurnal: philly, tenants: 4}
      - {name: spot, tier: spot, share: 0.2, sizes: {1: 0.5, 8: 0.5},
         durations: {lognormal: {median_s: 3600, sigma: 1.5}}}
      - {name: chat, kind: inference, tier: on_demand, share: 0.2, requests: azure_conv}

A class gives its arrival rate by ``share`` (of ``load``), ``jobs_per_hour`` or
``jobs_per_hour_per_1000_gpus`` (inference: ``share`` or ``requests_per_s``). When a load is set
(here or with ``--load``) every class's rate is scaled so the total offered load equals it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.sim.reservations import ReservationSpec
from gigawatt.sim.workload import Restart, RunSettings


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Lognormal(_Frozen):
    """Log-normal run time with the given median and log-space standard deviation."""

    median_s: float = Field(gt=0)
    sigma: float = Field(ge=0, le=5)


class LognormalDurations(_Frozen):
    """``{lognormal: {median_s, sigma}}``."""

    lognormal: Lognormal


class FixedDuration(_Frozen):
    """``{fixed_s: seconds}``: every job runs this long."""

    fixed_s: float = Field(gt=0)


Durations = Literal["philly", "alibaba"] | LognormalDurations | FixedDuration
Sizes = Literal["philly", "alibaba"] | dict[int, float]
Diurnal = Literal["philly", "alibaba", "flat"] | list[float]


class Failures(_Frozen):
    """Failure injection: mean GPU-hours between failures of one GPU; retries before failed."""

    mtbf_gpu_hours: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=3, ge=0, le=1000)


class JobClass(_Frozen):
    """One tenant class: its tier, rate, job sizes and durations (or inference demand)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    tier: Tier
    kind: Literal["batch", "inference"] = "batch"
    tenants: int = Field(default=1, ge=1, le=100_000)
    priority: int = 0
    gpu_type: str | None = None
    share: float | None = Field(default=None, gt=0)
    jobs_per_hour: float | None = Field(default=None, gt=0)
    jobs_per_hour_per_1000_gpus: float | None = Field(default=None, gt=0)
    sizes: Sizes = "philly"
    size_scale: int = Field(default=1, ge=1, le=100_000)
    durations: Durations = "philly"
    duration_scale: float = Field(default=1.0, gt=0)
    diurnal: Diurnal = "philly"
    # inference classes
    requests: Literal["azure_code", "azure_conv"] = "azure_conv"
    requests_per_s: float | None = Field(default=None, gt=0)
    gpus_per_replica: int = Field(default=8, ge=1, le=1024)
    target_utilization: float = Field(default=0.7, gt=0, le=1)
    prefill_weight: float = Field(default=0.1, ge=0)
    window_s: float = Field(default=300.0, gt=0)
    min_replicas: int = Field(default=1, ge=0)
    #: each tenant of a reserved class reserves this many GPUs (``gigawatt.sim.reservations``)
    reserved_gpus: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_rate(self) -> JobClass:
        if self.kind == "inference":
            rates = [r for r in (self.share, self.requests_per_s) if r is not None]
            allowed = "share or requests_per_s"
        else:
            rates = [
                r
                for r in (self.share, self.jobs_per_hour, self.jobs_per_hour_per_1000_gpus)
                if r is not None
            ]
            allowed = "share, jobs_per_hour or jobs_per_hour_per_1000_gpus"
        if len(rates) != 1:
            raise ValueError(f"class {self.name}: give exactly one of {allowed}")
        if self.reserved_gpus is not None and self.tier is not Tier.RESERVED:
            raise ValueError(f"class {self.name}: reserved_gpus applies to the reserved tier")
        if isinstance(self.sizes, dict) and (
            not self.sizes
            or any(k < 1 or v < 0 for k, v in self.sizes.items())
            or sum(self.sizes.values()) <= 0
        ):
            raise ValueError(f"class {self.name}: sizes need GPUs >= 1 and weights >= 0")
        if isinstance(self.diurnal, list) and (
            len(self.diurnal) != 24 or min(self.diurnal) < 0 or sum(self.diurnal) <= 0
        ):
            raise ValueError(f"class {self.name}: diurnal needs 24 weights >= 0")
        return self


class WorkloadSpec(_Frozen):
    """A generated workload: how long, how loaded, job behaviour, and the tenant classes."""

    name: str = "workload"
    days: float = Field(default=7.0, gt=0, le=3660)
    load: float | None = Field(default=None, gt=0, le=100)
    seed: int = 0
    restart: Restart = Restart.FROM_ZERO
    checkpoint_interval_s: float = Field(default=1800.0, gt=0)
    failures: Failures = Failures()
    classes: tuple[JobClass, ...] = Field(min_length=1)
    reservations: tuple[ReservationSpec, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> WorkloadSpec:
        names = [c.name for c in self.classes]
        if len(names) != len(set(names)):
            raise ValueError("class names must be unique")
        return self

    def reservation_specs(self) -> list[ReservationSpec]:
        """Top-level reservations, then one per tenant of each class with ``reserved_gpus``
        (tenant names as the generator gives them: ``CLASS`` or ``CLASS-K``)."""
        out = list(self.reservations)
        for c in self.classes:
            if c.reserved_gpus is None:
                continue
            names = [f"{c.name}-{k}" if c.tenants > 1 else c.name for k in range(c.tenants)]
            out.extend(ReservationSpec(tenant=n, gpus=c.reserved_gpus, gpu_type=c.gpu_type)
                       for n in names)  # fmt: skip
        return out

    @property
    def settings(self) -> RunSettings:
        """Per-run job behaviour."""
        return RunSettings(
            restart=self.restart,
            checkpoint_interval_s=self.checkpoint_interval_s,
            mtbf_gpu_hours=self.failures.mtbf_gpu_hours,
            max_retries=self.failures.max_retries,
        )


def parse_workload(data: object, where: str = "workload") -> WorkloadSpec:
    """Validate a workload structure; :class:`InvalidInput` naming the first problem."""
    if not isinstance(data, dict) or not data:
        raise InvalidInput("empty workload: expected a mapping with 'classes'", where)
    try:
        return WorkloadSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{loc}: {msg}" if loc else msg, where) from exc


def load_workload(path: Path | str) -> WorkloadSpec:
    """Read and validate a workload YAML file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read: {exc}", str(path)) from exc
    return parse_workload(data, str(path))


#: The workload a run uses when given neither a trace nor a workload: the gigawatt benchmark's
#: (four tiers sharing 85% of the fleet, about a million jobs a day on a 500,000-GPU fleet;
#: rates are shares of the load, so it fits any fleet).
DEFAULT_WORKLOAD = "million"


def builtin_workloads() -> dict[str, Path]:
    """The workload files shipped in ``gigawatt/sim/workloads/``, by name (file stem)."""
    folder = Path(str(resources.files("gigawatt.sim").joinpath("workloads")))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}
