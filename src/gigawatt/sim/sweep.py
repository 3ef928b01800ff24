"""Parameter sweeps: several twin runs from one YAML file, in parallel across processes.

::

    base: {trace: ../shared/traces/philly_pollux.csv, gpus: 256, load: 0.8}
    scenarios:
      - {name: fifo, policy: fifo}
      - {name: sjf, policy: sjf}
      - {name: priority, policy: priority}

or a sweep over the external cap (one scenario per value, named ``external_cap_gpus=N``)::

    base: {workload: sell-or-keep.yaml, gpus: 2000}
    sweep: {external_cap_gpus: [0, 500, 1000, 1500, 2000]}

Each scenario is ``base`` updated with its own options (the names of ``gigawatt simulate``'s
options, with underscores); paths are relative to the sweep file. Every scenario runs in its
own process (``ProcessPoolExecutor``), so a sweep of N scenarios takes about as long as its
slowest one on N cores; with a Ray cluster address each scenario is a Ray task instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import Ordering
from gigawatt.sim.run import SimOptions, run

_PATHS = ("trace", "workload", "fleet", "nodes")


class ScenarioOptions(BaseModel):
    """The options one scenario may set (all optional; ``name`` labels the result)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    trace: str | None = None
    workload: str | None = None
    fleet: str | None = None
    gpus: int | None = Field(default=None, ge=1)
    power: str | None = None
    gpu: str | None = None
    nodes: str | None = None
    policy: Ordering | None = None
    days: float | None = Field(default=None, gt=0)
    load: float | None = Field(default=None, gt=0)
    time_scale: float | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)
    tier_mix: dict[Tier, float] | None = None
    demand_scale: float | None = Field(default=None, gt=0)
    warmup: Literal["auto", "none"] | Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = (
        None
    )
    external_cap_gpus: int | None = Field(default=None, ge=0)


class SweepAxes(BaseModel):
    """``sweep:``: values to run every scenario at (one scenario per value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_cap_gpus: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        min_length=1, max_length=1000
    )


class SweepSpec(BaseModel):
    """A sweep file: ``scenarios``, ``sweep`` (axes) or both (each scenario at each value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: ScenarioOptions = ScenarioOptions()
    scenarios: tuple[ScenarioOptions, ...] = Field(default=(), max_length=1000)
    sweep: SweepAxes | None = None

    @model_validator(mode="after")
    def _some_scenario(self) -> SweepSpec:
        if not self.scenarios and self.sweep is None:
            raise ValueError("give 'scenarios', a 'sweep' over external_cap_gpus, or both")
        total = max(len(self.scenarios), 1) * (
            len(self.sweep.external_cap_gpus) if self.sweep else 1
        )
        if total > 1000:
            raise ValueError(f"{total} scenarios; at most 1000")
        return self

    def expanded(self) -> tuple[ScenarioOptions, ...]:
        """The scenarios to run: each listed scenario (or one empty one) at each swept value."""
        if self.sweep is None:
            return self.scenarios
        out: list[ScenarioOptions] = []
        for k, scenario in enumerate(self.scenarios or (ScenarioOptions(),)):
            for cap in self.sweep.external_cap_gpus:
                label = f"external_cap_gpus={cap}"
                if self.scenarios:
                    label = f"{scenario.name or f'scenario-{k + 1}'}/{label}"
                out.append(scenario.model_copy(update={"name": label, "external_cap_gpus": cap}))
        return tuple(out)


def load_sweep(path: Path | str) -> SweepSpec:
    """Read and validate a sweep file; :class:`InvalidInput` naming the first problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read: {exc}", str(path)) from exc
    if not isinstance(data, dict):
        raise InvalidInput("expected a mapping with 'scenarios'", str(path))
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        where = f"{loc}: " if loc else ""
        raise InvalidInput(f"{where}{first['msg']}", str(path)) from exc


def scenario_options(
    spec: SweepSpec, folder: Path, defaults: Mapping[str, Any] | None = None
) -> list[tuple[str, SimOptions]]:
    """``(name, options)`` per scenario: ``defaults`` < ``base`` < the scenario."""
    out: list[tuple[str, SimOptions]] = []
    for k, scenario in enumerate(spec.expanded()):
        values: dict[str, Any] = dict(defaults or {})
        for layer in (spec.base, scenario):
            for key, value in layer.model_dump(exclude_none=True).items():
                values[key] = folder / value if key in _PATHS else value
        name = str(values.pop("name", None) or f"scenario-{k + 1}")
        values = {key: (Path(v) if key in _PATHS else v) for key, v in values.items()}
        for key in _PATHS:
            if key in values and not values[key].is_file():
                raise InvalidInput(f"no such file: {values[key]}", f"{name}.{key}")
        out.append((name, SimOptions(**values)))
    return out


def _run_one(options: SimOptions) -> dict[str, Any]:
    return dict(run(options, default_catalogue()).to_json())


def run_sweep(
    scenarios: list[tuple[str, SimOptions]],
    workers: int | None = None,
    ray_address: str | None = None,
) -> list[dict[str, Any]]:
    """Run the scenarios in parallel processes, or as Ray tasks on the cluster at
    ``ray_address`` (the ``ray`` extra on every node); results in scenario order, with ``name``.
    """
    n = workers or min(len(scenarios), os.cpu_count() or 1)
    if ray_address is not None:
        from gigawatt.backends.ray.tasks import map_on_ray  # optional extra, imported on use

        results = map_on_ray(_run_one, [options for _, options in scenarios], ray_address)
    elif n <= 1:
        results = [_run_one(options) for _, options in scenarios]
    else:
        with ProcessPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(_run_one, [options for _, options in scenarios]))
    return [{"name": name, **r} for (name, _), r in zip(scenarios, results, strict=True)]
