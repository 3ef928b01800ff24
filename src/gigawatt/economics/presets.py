"""Presets and scenario files: YAML where every number may carry its ``source``.

A value is written plainly (``pue: 1.1``) or with its source
(``pue: {value: 1.1, source: "..."}``); entries of the mappings ``gpu_mix``, ``tier_mix``,
``tier_prices``, ``sales_mix`` and ``ranges`` may carry their own. A scenario file may start from
a preset with ``extends: NAME``. Layers (defaults < preset < file < simulation < flags) are
merged by :func:`merge_layers` and validated once by :func:`~.scenario.build_scenario`.
Reading files is the caller's job; this module parses text and packaged presets only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from gigawatt.core.catalogue import Catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.economics.scenario import Scenario, build_scenario

_META = frozenset({"value", "source", "note"})
#: Mapping fields whose entries may carry their own source.
NESTED = frozenset({"gpu_mix", "tier_mix", "tier_prices", "sales_mix", "ranges"})
#: Mapping fields merged entry by entry across layers (the others are replaced whole).
MERGED = frozenset({"tier_prices", "ranges", "uncertainty", "fiscal_years"})


@dataclass(frozen=True)
class Layer:
    """Values from one origin (a preset, a file, a simulation result, the flags) and sources."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def _unwrap(raw: Any, where: str, default_source: str) -> tuple[Any, str]:
    if isinstance(raw, Mapping) and "value" in raw:
        extra = sorted(set(map(str, raw)) - _META)
        if extra:
            raise InvalidInput(f"unknown key {extra[0]!r}; allowed: value, source, note", where)
        return raw["value"], str(raw.get("source") or default_source)
    return raw, default_source


def parse_layer(data: Any, origin: str) -> Layer:
    """Split a YAML mapping into values and sources (``origin`` labels values without one)."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{origin} must be a mapping of field: value", "scenario")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, raw in data.items():
        name = str(key)
        if name == "sources":
            if not isinstance(raw, Mapping):
                raise InvalidInput("must be a mapping of field: source text", "sources")
            sources.update({str(k): str(v) for k, v in raw.items()})
            continue
        value, source = _unwrap(raw, name, origin)
        sources[name] = source
        if name in NESTED and isinstance(value, Mapping):
            inner = {}
            for k, r in value.items():
                inner[k], sources[f"{name}.{k}"] = _unwrap(r, f"{name}.{k}", source)
            value = inner
        values[name] = value
    return Layer(values, sources)


def parse_yaml(text: str, origin: str) -> Any:
    """Parse YAML text; a syntax error becomes one line naming ``origin``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            mark = exc.problem_mark
            detail = f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
        raise InvalidInput(f"cannot parse {origin}: {detail}", "scenario") from None


def preset_names() -> list[str]:
    """Names of the packaged presets."""
    folder = resources.files("gigawatt.economics").joinpath("presets")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def preset_layer(name: str, _seen: tuple[str, ...] = ()) -> Layer:
    """The values and sources of the packaged preset ``name`` (its ``extends`` chain merged)."""
    if name not in preset_names():
        known = ", ".join(preset_names())
        raise InvalidInput(f"unknown preset {name!r}; allowed: {known}", "preset")
    if name in _seen:
        raise InvalidInput(f"preset {name!r} extends itself", "preset")
    text = (
        resources.files("gigawatt.economics")
        .joinpath(f"presets/{name}.yaml")
        .read_text(encoding="utf-8")
    )
    data = parse_yaml(text, f"preset {name}")
    layers: list[Layer] = []
    if isinstance(data, Mapping) and "extends" in data:
        layers.append(preset_layer(str(data["extends"]), (*_seen, name)))
        data = {k: v for k, v in data.items() if k != "extends"}
    layers.append(parse_layer(data, f"preset {name}"))
    merged = merge_layers(layers)
    sources = merged.pop("sources")
    merged["name"] = name
    return Layer(merged, sources)


def file_layers(text: str, origin: str) -> list[Layer]:
    """The layers of a scenario file: its ``extends`` preset (if any), then the file itself."""
    data = parse_yaml(text, origin)
    if isinstance(data, Mapping) and "extends" in data:
        rest = {k: v for k, v in data.items() if k != "extends"}
        return [preset_layer(str(data["extends"])), parse_layer(rest, origin)]
    return [parse_layer(data, origin)]


def merge_layers(layers: Iterable[Layer]) -> dict[str, Any]:
    """One mapping for :func:`build_scenario`: later layers win, ``sources`` included."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.values.items():
            if key in MERGED and isinstance(value, Mapping) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = dict(value) if isinstance(value, Mapping) else value
                sources = {k: v for k, v in sources.items() if not k.startswith(f"{key}.")}
        sources.update(layer.sources)
    values["sources"] = sources
    return values


def load_preset(name: str, catalogue: Catalogue | None = None) -> Scenario:
    """The packaged preset ``name`` as a :class:`Scenario`."""
    return build_scenario(merge_layers([preset_layer(name)]), catalogue)


def scenario_from_yaml(
    text: str, origin: str = "scenario file", catalogue: Catalogue | None = None
) -> Scenario:
    """A :class:`Scenario` from the text of a scenario file (``extends`` honoured)."""
    return build_scenario(merge_layers(file_layers(text, origin)), catalogue)
