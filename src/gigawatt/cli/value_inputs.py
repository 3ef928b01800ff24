"""Inputs of ``gigawatt value``: numbers as people type them, flags as a layer, presets below.

Layers, later ones winning: documented defaults < ``--preset`` < ``--scenario`` file <
``--from-sim`` result < flags. ``--gpu`` on top of a preset or file (or a simulated fleet's GPU
type from ``--from-sim``) brings that GPU's catalogue kW, capex, throughput and prices: the lower
layers' GPU-specific values are dropped unless a higher layer gives them again. ``--year``
picks that fiscal year's share count and tax rate from the preset's ``fiscal_years`` (flags
still win; see :func:`gigawatt.economics.resolve.fiscal_figures`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gigawatt.cli.args import parse_choice
from gigawatt.core.errors import InvalidInput
from gigawatt.core.units import parse_power_mw
from gigawatt.economics.defaults import ALLOWED
from gigawatt.economics.presets import Layer, file_layers, merge_layers, preset_layer
from gigawatt.economics.scenario import OBJECTIVES, Scenario, build_scenario
from gigawatt.economics.simresult import sim_layer

_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12, "%": 0.01}
_AMOUNT = re.compile(r"^\s*\$?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([kmbt%]?)\s*$", re.I)


def parse_amount(text: str, field: str, allowed: str | None = None) -> float:
    """``2.57e9``, ``2.57B``, ``$35B``, ``13%``, ``1.5M`` as a float; one-line error otherwise."""
    match = _AMOUNT.match(text)
    value = float(match.group(1)) * _SCALE[match.group(2).lower()] if match else math.nan
    if not math.isfinite(value):
        allowed = allowed or ALLOWED.get(field, "a number such as 2.5, 35B or 13%")
        raise InvalidInput(f"cannot parse {text!r}; allowed: {allowed}", field)
    return value


def parse_count(text: str, field: str, minimum: int = 1) -> int:
    """A whole number (``1000000``, ``1e6``, ``1M``) of at least ``minimum``."""
    allowed = f"a whole number >= {minimum}"
    value = parse_amount(text, field, allowed)
    if not value.is_integer() or value < minimum:
        raise InvalidInput(f"got {text!r}; allowed: {allowed}", field)
    return int(value)


#: ``flag option name -> scenario field`` for the plain numeric flags.
NUMERIC_FLAGS: dict[str, str] = {
    "pue": "pue",
    "kw_per_gpu": "kw_per_gpu",
    "price": "price_per_gpu_hour",
    "utilization": "utilization",
    "internal_share": "internal_share",
    "internal_value": "internal_value_per_gpu_hour",
    "capex_per_gw": "capex_per_gw",
    "capex_per_gpu": "capex_per_gpu_usd",
    "life_years": "life_years",
    "power_price": "power_price_per_mwh",
    "load_factor": "load_factor",
    "opex_per_mw_year": "opex_per_mw_year",
    "opex_pct_revenue": "opex_pct_revenue",
    "tax_rate": "tax_rate",
    "shares": "diluted_shares",
    "discount_rate": "discount_rate",
    "price_decline": "price_decline_per_year",
    "lease_price_per_watt_year": "lease_price_per_watt_year",
    "token_price": "token_price_per_million",
    "internal_utilization": "internal_utilization",
    "internal_value_elasticity": "internal_value_elasticity",
    "internal_reference_gpus": "internal_reference_gpus",
    "external_reference_gpus": "external_reference_gpus",
    "price_premium_when_scarce": "price_premium_when_scarce",
    "selling_cost_pct_revenue": "selling_cost_pct_revenue",
    "operating_margin": "operating_margin",
    "lease_term_years": "lease_term_years",
    "platform_pe": "platform_pe",
    "cloud_pe": "cloud_pe",
    "base_net_income": "base_net_income",
    "base_pe": "base_pe",
    "rerating_at_full_sale": "rerating_at_full_sale",
    "share_price": "share_price",
    "observed_price_move": "observed_price_move",
}
#: ``flag -> (scenario field, allowed values)`` for the flags that take a word.
CHOICE_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "power_basis": ("power_basis", ("facility", "it")),
    "cost_basis": ("cost_basis", ("incremental", "full")),
    "lease_basis": ("lease_basis", ("it", "facility")),
    "optimize": ("optimize", ("internal_share",)),
    "objective": ("objective", OBJECTIVES),
}
#: Every flag :func:`flag_layer` reads.
FLAG_NAMES: tuple[str, ...] = (*NUMERIC_FLAGS, *CHOICE_FLAGS, "power", "gpu", "sell", "year")
#: What ``--gpu`` brings from the catalogue (dropped from presets and files below the flag).
GPU_SPECIFIC = (
    "kw_per_gpu",
    "tier_prices",
    "price_per_gpu_hour",
    "capex_per_gpu_usd",
    "tokens_per_second",
)
#: Cost flags a stated ``--operating-margin`` replaces for the external wheel.
MARGIN_REPLACES = ("opex_pct_revenue", "selling_cost_pct_revenue")


def flag_layer(flags: dict[str, Any], below: dict[str, Any]) -> Layer:
    """The values given as flags (strings as typed), over the merged layers ``below``."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def put(field: str, value: Any, flag: str) -> None:
        values[field] = value
        sources[field] = f"command line (--{flag.replace('_', '-')})"

    for flag, field in NUMERIC_FLAGS.items():
        text = flags.get(flag)
        if text is not None:
            put(field, parse_amount(text, field), flag)
    if flags.get("operating_margin") is not None:
        clash = [f for f in MARGIN_REPLACES if flags.get(f) is not None]
        if clash:
            flag = "--" + clash[0].replace("_", "-")
            raise InvalidInput(
                f"states the external wheel's margin, so its costs follow from it and {flag} "
                f"has no effect; allowed: --operating-margin or {flag}, not both",
                "operating_margin",
            )
    if flags.get("power") is not None:
        put("power_mw", parse_power_mw(str(flags["power"]), "power"), "power")
    for flag, (field, allowed) in CHOICE_FLAGS.items():
        if flags.get(flag) is not None:
            put(field, parse_choice(str(flags[flag]), field, allowed), flag)
    if flags.get("year") is not None:
        put("year", parse_count(str(flags["year"]), "year", minimum=1900), "year")
    if flags.get("gpu") is not None:
        put("gpu", str(flags["gpu"]), "gpu")
        put("gpu_mix", None, "gpu")
    _sales_flags(flags, below, put)
    return Layer(values, sources)


def _sales_flags(
    flags: dict[str, Any], below: dict[str, Any], put: Callable[[str, Any, str], None]
) -> None:
    """``--sell MODE``; a lease or token price alone switches selling to that mode."""
    modes = ("gpu_hours", "tokens", "lease")
    if flags.get("sell") is not None:
        put("sales_mix", {parse_choice(str(flags["sell"]), "sell", modes): 1.0}, "sell")
        return
    current = below.get("sales_mix") or {"gpu_hours": 1.0}
    for flag, mode in (("lease_price_per_watt_year", "lease"), ("token_price", "tokens")):
        if flags.get(flag) is not None and not current.get(mode):
            put("sales_mix", {mode: 1.0}, flag)
            return


def _read(path: str, field: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc.__class__.__name__}", field) from None


def read_sim(path: str) -> Any:
    """The parsed JSON of a twin result (a single run or a sweep)."""
    try:
        return json.loads(_read(path, "from_sim"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"cannot parse {path}: {exc}", "from_sim") from None


def build_from_options(
    preset: str | None, scenario: str | None, from_sim: str | None, flags: dict[str, Any]
) -> Scenario:
    """The scenario the options describe (defaults < preset < file < sim < flags)."""
    layers: list[Layer] = []
    if preset:
        layers.append(preset_layer(preset))
    if scenario:
        layers += file_layers(_read(scenario, "scenario"), f"scenario file {scenario}")
    if from_sim:
        simulated = sim_layer(read_sim(from_sim), from_sim)
        if "gpu" in simulated.values:  # the simulated fleet's GPUs, priced from the catalogue
            layers = [_without_gpu_specifics(layer) for layer in layers]
        layers.append(simulated)
    if flags.get("gpu") is not None:
        layers = [_without_gpu_specifics(layer) for layer in layers]
    layers.append(flag_layer(flags, merge_layers(layers)))
    return build_scenario(merge_layers(layers))


def _without_gpu_specifics(layer: Layer) -> Layer:
    """``layer`` less the values a ``--gpu`` flag brings from the catalogue instead."""
    values = {k: v for k, v in layer.values.items() if k not in GPU_SPECIFIC}
    sources = {k: v for k, v in layer.sources.items() if k.split(".")[0] not in GPU_SPECIFIC}
    return Layer(values, sources)
