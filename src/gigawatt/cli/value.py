"""``gigawatt value``: what N megawatts of GPUs sold outside earn, and what drives the answer.

Layers, later ones winning: documented defaults < ``--preset`` < ``--scenario`` file <
``--from-sim`` result < flags. Bad input prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gigawatt.cli.args import parse_choice, write_output
from gigawatt.core.errors import GigawattError, InvalidInput
from gigawatt.core.units import parse_power_mw
from gigawatt.economics import tables
from gigawatt.economics.defaults import ALLOWED
from gigawatt.economics.evaluate import Evaluation, evaluate
from gigawatt.economics.montecarlo import MonteCarloResult, monte_carlo
from gigawatt.economics.presets import (
    Layer,
    file_layers,
    merge_layers,
    preset_layer,
    preset_names,
)
from gigawatt.economics.scenario import Scenario, build_scenario
from gigawatt.economics.sensitivity import METRICS, Tornado, sensitivity
from gigawatt.economics.simresult import sim_layer

#: Monte Carlo draws for ``--report`` when ``--monte-carlo`` is not given.
REPORT_DRAWS = 100_000
#: Show a progress bar from this many draws on (when stderr is a terminal).
PROGRESS_FROM = 200_000
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12, "%": 0.01}
_AMOUNT = re.compile(r"^\s*\$?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([kmbt%]?)\s*$", re.I)

Opt = typer.Option


def _opt(metavar: str, help_text: str, *names: str) -> Any:
    return typer.Option(*names, metavar=metavar, help=help_text)


def _num(help_text: str) -> Any:
    return typer.Option(metavar="NUMBER", help=help_text)


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
}


def flag_layer(flags: dict[str, str | None], below: dict[str, Any]) -> Layer:
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
    if flags.get("power") is not None:
        put("power_mw", parse_power_mw(str(flags["power"]), "power"), "power")
    if flags.get("power_basis") is not None:
        put(
            "power_basis",
            parse_choice(str(flags["power_basis"]), "power_basis", ("facility", "it")),
            "power_basis",
        )
    if flags.get("cost_basis") is not None:
        basis = parse_choice(str(flags["cost_basis"]), "cost_basis", ("incremental", "full"))
        put("cost_basis", basis, "cost_basis")
    if flags.get("gpu") is not None:
        put("gpu", str(flags["gpu"]), "gpu")
        put("gpu_mix", None, "gpu")
    _sales_flags(flags, below, put)
    return Layer(values, sources)


def _sales_flags(
    flags: dict[str, str | None], below: dict[str, Any], put: Callable[[str, Any, str], None]
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


def build_from_options(
    preset: str | None, scenario: str | None, from_sim: str | None, flags: dict[str, str | None]
) -> Scenario:
    """The scenario the options describe (defaults < preset < file < sim < flags)."""
    layers: list[Layer] = []
    if preset:
        layers.append(preset_layer(preset))
    if scenario:
        layers += file_layers(_read(scenario, "scenario"), f"scenario file {scenario}")
    if from_sim:
        try:
            doc = json.loads(_read(from_sim, "from_sim"))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"cannot parse {from_sim}: {exc}", "from_sim") from None
        layers.append(sim_layer(doc, from_sim))
    layers.append(flag_layer(flags, merge_layers(layers)))
    return build_scenario(merge_layers(layers))


@contextmanager
def progress_bar(total: int, console: Console | None) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a rich bar on ``console`` (None: silent)."""
    if console is None:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("Monte Carlo"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("draws", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _print_tables(e: Evaluation, tornado: Tornado | None, mc: MonteCarloResult | None) -> None:
    console = Console()
    parts = [tables.pnl_table(e)]
    parts += [tables.tornado_table(tornado)] if tornado is not None else []
    parts += [tables.monte_carlo_table(mc)] if mc is not None else []
    for part in (*parts, tables.assumptions_table(e)):
        table = Table(title=part.title)
        for k, head in enumerate(part.head):
            numeric = k > 0 and part.head[-1] != "Source"
            table.add_column(head, justify="right" if numeric else "left")
        for row in part.rows:
            table.add_row(*row)
        console.print(table)


def _run(opts: dict[str, Any]) -> None:
    out_format = parse_choice(opts["format"], "format", ("table", "json"))
    metric = parse_choice(opts["sensitivity_metric"], "sensitivity_metric", METRICS)
    flags = {
        k: opts[k] for k in (*NUMERIC_FLAGS, "power", "power_basis", "cost_basis", "gpu", "sell")
    }
    scenario = build_from_options(opts["preset"], opts["scenario"], opts["from_sim"], flags)
    target = opts["target_revenue"]
    target_usd = parse_amount(target, "target_revenue") if target is not None else None
    draws = parse_count(opts["monte_carlo"], "monte_carlo") if opts["monte_carlo"] else None
    seed = parse_count(opts["seed"], "seed", minimum=0)
    e = evaluate(scenario, target_revenue_usd=target_usd)
    want_tornado = opts["sensitivity"] or opts["report"] or opts["plot"]
    tornado = sensitivity(e.resolved, metric=metric) if want_tornado else None
    mc = None
    if draws or opts["report"]:
        n = draws or REPORT_DRAWS
        console = Console(stderr=True) if n >= PROGRESS_FROM and sys.stderr.isatty() else None
        with progress_bar(n, console) as progress:
            mc = monte_carlo(e.resolved, n, seed=seed, progress=progress)
    if opts["plot"] and tornado is not None:
        from gigawatt.economics.charts import tornado_png

        write_output(opts["plot"], tornado_png(tornado), "plot")
    if opts["report"] and tornado is not None and mc is not None:
        from gigawatt.economics.report import render_report

        full = None
        if scenario.cost_basis == "incremental":
            full = evaluate(scenario.with_values({"cost_basis": "full"}, "report comparison"))
        write_output(opts["report"], render_report(e, tornado, mc, full), "report")
    if out_format == "json":
        doc = e.to_dict()
        if draws and mc is not None:
            doc["monte_carlo"] = mc.to_dict()
        if opts["sensitivity"] and tornado is not None:
            doc["sensitivity"] = tornado.to_dict()
        typer.echo(json.dumps(_json_safe(doc), indent=2, allow_nan=False))
    else:
        _print_tables(e, tornado if opts["sensitivity"] else None, mc if draws else None)


def value_command(
    preset: Annotated[str | None, _opt("NAME", "Start from a preset (see --list-presets).")] = None,
    scenario: Annotated[str | None, _opt("FILE", "Scenario YAML (may 'extends: PRESET').")] = None,
    from_sim: Annotated[str | None, _opt("FILE", "Digital-twin result JSON.")] = None,
    power: Annotated[str | None, _opt("POWER", "Power: 250MW, 1GW, 1.5GW.")] = None,
    power_basis: Annotated[str | None, _opt("facility|it", "Power basis (PUE converts).")] = None,
    pue: Annotated[str | None, _num("Power usage effectiveness (>= 1).")] = None,
    gpu: Annotated[str | None, _opt("TYPE", "H100, H200, B200, GB200 or GB300.")] = None,
    kw_per_gpu: Annotated[str | None, _num("All-in IT kW per GPU.")] = None,
    price: Annotated[str | None, _num("Blended price per GPU-hour (USD).")] = None,
    utilization: Annotated[str | None, _num("Billed utilisation, 0..1.")] = None,
    internal_share: Annotated[str | None, _num("Share kept for own AI, 0..1.")] = None,
    internal_value: Annotated[str | None, _num("Value of an internal GPU-hour.")] = None,
    capex_per_gw: Annotated[str | None, _num("Capex per GW of IT power (50B).")] = None,
    capex_per_gpu: Annotated[str | None, _num("Capex per GPU (plus facility/MW).")] = None,
    life_years: Annotated[str | None, _num("Depreciation life in years.")] = None,
    power_price: Annotated[str | None, _num("Electricity, USD per MWh.")] = None,
    load_factor: Annotated[str | None, _num("Average draw / IT nameplate, 0..1.")] = None,
    opex_per_mw_year: Annotated[str | None, _num("Fixed opex per MW-year.")] = None,
    opex_pct_revenue: Annotated[str | None, _num("Variable opex, share of revenue.")] = None,
    tax_rate: Annotated[str | None, _num("Tax rate, 0..1 (or 13%).")] = None,
    shares: Annotated[str | None, _num("Diluted shares (2.57B).")] = None,
    cost_basis: Annotated[str | None, _opt("incremental|full", "Depreciation or not.")] = None,
    lease_price_per_watt_year: Annotated[str | None, _num("Lease, USD per W-year.")] = None,
    token_price: Annotated[str | None, _num("USD per million tokens.")] = None,
    sell: Annotated[str | None, _opt("gpu_hours|tokens|lease", "Sell all capacity so.")] = None,
    discount_rate: Annotated[str | None, _num("Discount rate for NPV.")] = None,
    price_decline: Annotated[str | None, _num("Yearly price decline, 0..1.")] = None,
    target_revenue: Annotated[str | None, _num("Solve the price for this revenue.")] = None,
    sensitivity_flag: Annotated[bool, Opt("--sensitivity", help="Add the tornado.")] = False,
    sensitivity_metric: Annotated[str, _opt("METRIC", "Tornado metric.")] = "eps_uplift_usd",
    monte_carlo_draws: Annotated[
        str | None, _opt("N", "Monte Carlo draws.", "--monte-carlo")
    ] = None,
    seed: Annotated[str, _opt("N", "Monte Carlo seed.")] = "0",
    format_: Annotated[str, _opt("table|json", "Output format.", "--format")] = "table",
    report: Annotated[str | None, _opt("FILE", "Write a self-contained HTML report.")] = None,
    plot: Annotated[str | None, _opt("FILE", "Write the tornado chart (PNG).")] = None,
    list_presets: Annotated[bool, Opt("--list-presets", help="List presets and exit.")] = False,
) -> None:
    """What is N MW of GPUs worth? Revenue, P&L, EPS uplift, NPV, tornado, Monte Carlo."""
    opts = dict(locals())
    opts["sensitivity"] = opts.pop("sensitivity_flag")
    opts["monte_carlo"] = opts.pop("monte_carlo_draws")
    opts["format"] = opts.pop("format_")
    try:
        if list_presets:
            for name in preset_names():
                typer.echo(name)
            return
        _run(opts)
    except GigawattError as exc:
        typer.echo(f"error: {error_line(exc)}", err=True)
        raise typer.Exit(2) from None


def error_line(exc: GigawattError) -> str:
    """One line; a scenario field set by a differently named flag also names the flag."""
    message = " ".join(exc.message.split())
    field = getattr(exc, "field", None)
    flag = _FIELD_FLAGS.get(field or "")
    if field and flag and message.startswith(f"{field}:"):
        message = f"{field} (--{flag}){message[len(field) :]}"
    return message


_FIELD_FLAGS = {
    field: flag.replace("_", "-")
    for flag, field in {**NUMERIC_FLAGS, "power": "power_mw"}.items()
    if flag != field
}
