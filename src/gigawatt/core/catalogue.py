"""The GPU catalogue: power, cost, throughput and default prices per GPU type, each with a source.

The packaged ``data/gpus.yaml`` is the default; users pass their own file to override it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gigawatt.core.errors import InvalidInput, NotFound
from gigawatt.core.tiers import Tier


class GpuSpec(BaseModel):
    """One GPU type. Frozen: a catalogue entry is a value."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    board_power_kw: float = Field(gt=0)
    it_kw_per_gpu: float = Field(gt=0)
    capex_per_gpu_usd: float = Field(ge=0)
    tokens_per_second: float = Field(ge=0)
    prices_per_gpu_hour: Mapping[Tier, Decimal]
    sources: Mapping[str, str] = Field(default_factory=dict)

    def price(self, tier: Tier) -> Decimal:
        """Default price per GPU-hour for ``tier``."""
        return self.prices_per_gpu_hour[tier]


class Catalogue(BaseModel):
    """GPU types by name (case-insensitive lookup)."""

    model_config = ConfigDict(frozen=True)

    gpus: Mapping[str, GpuSpec]

    def get(self, name: str) -> GpuSpec:
        """The spec for ``name``; :class:`NotFound` naming the known types otherwise."""
        spec = self.gpus.get(name) or self.gpus.get(name.upper())
        if spec is None:
            known = ", ".join(sorted(self.gpus))
            raise NotFound(f"unknown GPU type {name!r}; known types: {known}")
        return spec

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.gpus or name.upper() in self.gpus)

    @property
    def names(self) -> list[str]:
        """Known GPU type names, sorted."""
        return sorted(self.gpus)


def _value(entry: Any, where: str, sources: dict[str, str]) -> Any:
    if isinstance(entry, dict) and "value" in entry:
        if entry.get("source"):
            sources[where] = str(entry["source"])
        return entry["value"]
    return entry


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Build a catalogue from the YAML structure (``{gpus: {NAME: {field: {value, source}}}}``)."""
    try:
        gpus: dict[str, GpuSpec] = {}
        for name, raw in dict(data["gpus"]).items():
            sources: dict[str, str] = {}
            fields = {
                k: _value(v, k, sources) for k, v in raw.items() if k != "prices_per_gpu_hour"
            }
            prices = {
                Tier(t): Decimal(str(_value(v, f"price.{t}", sources)))
                for t, v in raw["prices_per_gpu_hour"].items()
            }
            missing = set(Tier) - set(prices)
            if missing:
                raise InvalidInput(f"{name}: missing prices for {sorted(missing)}", "catalogue")
            gpus[str(name)] = GpuSpec(
                name=str(name), prices_per_gpu_hour=prices, sources=sources, **fields
            )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"malformed GPU catalogue: {exc}", "catalogue") from exc
    return Catalogue(gpus=gpus)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load a catalogue file, or the packaged default when ``path`` is None."""
    if path is None:
        return default_catalogue()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", "catalogue") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a mapping", "catalogue")
    return parse_catalogue(data)


@cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue (read once; it is immutable)."""
    text = resources.files("gigawatt.core").joinpath("data/gpus.yaml").read_text(encoding="utf-8")
    return parse_catalogue(yaml.safe_load(text))
