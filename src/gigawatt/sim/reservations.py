"""Reservations in the twin: declared in a workload file or a fleet file, given to the scheduler.

A reservation is a contract: ``tenant`` is guaranteed ``gpus`` GPUs of ``gpu_type``. The live
scheduler (``SchedulingPolicy.reservations``) lets a reserved job within its tenant's
reservation preempt spot work and exempts it from the internal floor; without reservations the
``reserved`` tier is only a rank in the queue. Two ways to declare them for a twin run:

- a workload file: per class ``reserved_gpus: N`` (each tenant of the class reserves N GPUs of
  the class's GPU type; reserved tier only), or top-level ``reservations: [{tenant, gpus,
  gpu_type}]`` naming generated tenants (``CLASS`` or ``CLASS-K`` for a class of K tenants);
- a fleet file (``--fleet``): top-level ``reservations: [{tenant, gpus, gpu_type}]`` beside
  ``sites`` (twin only: ``gigawatt serve`` keeps reservations in its database).

``gpu_type`` may be left out: the fleet's main GPU type (the one with most GPUs).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.fleet import FleetSpec, parse_fleet
from gigawatt.scheduling.model import Reservation


class ReservationSpec(BaseModel):
    """``{tenant, gpus, gpu_type?}`` as written in a workload or fleet file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(min_length=1)
    gpus: int = Field(gt=0)
    gpu_type: str | None = None

    def resolve(self, default_type: str) -> Reservation:
        """The scheduler's reservation (the fleet's main type when none is given)."""
        return Reservation(self.tenant, self.gpu_type or default_type, self.gpus)


def resolve_all(specs: Iterable[ReservationSpec], default_type: str) -> tuple[Reservation, ...]:
    """Every spec as a scheduler reservation."""
    return tuple(s.resolve(default_type) for s in specs)


def load_fleet_file(
    path: Path | str, catalogue: Catalogue
) -> tuple[FleetSpec, list[ReservationSpec]]:
    """A fleet YAML file and the reservations it declares (``reservations:``, optional)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", "fleet") from exc
    raw: object = []
    if isinstance(data, dict) and "reservations" in data:
        data = dict(data)
        raw = data.pop("reservations") or []
    fleet = parse_fleet(data, catalogue, where=str(path))
    if not isinstance(raw, list):
        raise InvalidInput("reservations: expected a list of {tenant, gpus, gpu_type}", str(path))
    specs = []
    for k, item in enumerate(raw):
        try:
            specs.append(ReservationSpec.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"reservations.{k}.{loc}: {first['msg']}", str(path)) from exc
    return fleet, specs
