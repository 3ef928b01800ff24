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

from gigawatt.core.errors import GigawattError, InvalidInput
from gigawatt.core.units import parse_power_mw
from gigawatt.economics import fmt
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


def _choice(text: str, field: str, allowed: tuple[str, ...]) -> str:
    value = text.strip().lower().replace("-", "_")
    if value not in allowed:
        raise InvalidInput(f"got {text!r}; allowed: {' or '.join(allowed)}", field)
    return value


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
            _choice(str(flags["power_basis"]), "power_basis", ("facility", "it")),
            "power_basis",
        )
    if flags.get("cost_basis") is not None:
        basis = _choice(str(flags["cost_basis"]), "cost_basis", ("incremental", "full"))
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
        put("sales_mix", {_choice(str(flags["sell"]), "sell", modes): 1.0}, "sell")
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
    a, s = e.annual, e.scenario
    pnl = Table(title=f"{s.name}: run-rate year", show_header=True)
    pnl.add_column("Line")
    pnl.add_column("Value", justify="right")
    pnl.add_row("IT power", f"{fmt.number(a['it_power_mw'])} MW")
    pnl.add_row("GPUs", fmt.number(a["gpus"]))
    pnl.add_row("GPU-hours billed", fmt.number(a["gpu_hours_billed"]))
    for label, key in (
        ("Revenue", "revenue_usd"),
        ("Power", "power_cost_usd"),
        ("Depreciation", "depreciation_usd"),
        ("Opex", "opex_usd"),
        ("Operating income", "operating_income_usd"),
        ("Tax", "tax_usd"),
        ("Net income", "net_income_usd"),
        ("EPS uplift", "eps_uplift_usd"),
    ):
        pnl.add_row(label, fmt.usd(a[key]))
    pnl.add_row("Operating margin", fmt.pct(a["operating_margin"]))
    pnl.add_row(f"NPV ({s.cost_basis} basis, {s.discount_rate:.0%})", fmt.usd(e.npv_usd))
    pnl.add_row("IRR", fmt.pct(e.irr) if e.irr is not None else "n/a")
    payback = f"{e.payback_years:.2f} y" if e.payback_years is not None else "never"
    pnl.add_row("Payback", payback if e.investment_usd < 0 else "n/a (nothing invested)")
    pnl.add_row("Break-even $/GPU-h (NPV 0)", fmt.usd(e.break_even_price_per_gpu_hour))
    if e.price_for_target_revenue is not None:
        pnl.add_row(
            f"$/GPU-h for {fmt.usd(e.target_revenue_usd)}", fmt.usd(e.price_for_target_revenue)
        )
    console.print(pnl)
    if tornado is not None:
        t = Table(title=f"Tornado ({tornado.metric})")
        for col in ("Input", "Low", "High", "At low", "At high"):
            t.add_column(col, justify="left" if col == "Input" else "right")
        m = tornado.metric
        for row in tornado.rows:
            t.add_row(
                row.input.label,
                fmt.value(row.input.low),
                fmt.value(row.input.high),
                fmt.usd(row.at_low[m]),
                fmt.usd(row.at_high[m]),
            )
        console.print(t)
    if mc is not None:
        t = Table(title=f"Monte Carlo ({mc.draws:,} draws, seed {mc.seed})")
        for col in ("Output", "P5", "P50", "P95"):
            t.add_column(col, justify="left" if col == "Output" else "right")
        for name, p in mc.percentiles().items():
            t.add_row(name, fmt.usd(p["p5"]), fmt.usd(p["p50"]), fmt.usd(p["p95"]))
        console.print(t)
    src = Table(title="Assumptions")
    for col in ("Input", "Value", "Source"):
        src.add_column(col)
    for name, item in e.assumptions.items():
        src.add_row(name, fmt.value(item["value"]), str(item["source"]))
    console.print(src)


def _write(path: str, data: str | bytes, field: str) -> None:
    try:
        if isinstance(data, bytes):
            Path(path).write_bytes(data)
        else:
            Path(path).write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.__class__.__name__}", field) from None


def _run(opts: dict[str, Any]) -> None:
    out_format = _choice(opts["format"], "format", ("table", "json"))
    metric = _choice(opts["sensitivity_metric"], "sensitivity_metric", METRICS)
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

        _write(opts["plot"], tornado_png(tornado), "plot")
    if opts["report"] and tornado is not None and mc is not None:
        from gigawatt.economics.report import render_report

        full = None
        if scenario.cost_basis == "incremental":
            full = evaluate(scenario.with_values({"cost_basis": "full"}, "report comparison"))
        _write(opts["report"], render_report(e, tornado, mc, full), "report")
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
    preset: Annotated[
        str | None, Opt(help="Start from a packaged preset (see --list-presets).")
    ] = None,
    scenario: Annotated[str | None, Opt(help="Scenario YAML file (may 'extends: PRESET').")] = None,
    from_sim: Annotated[
        str | None, Opt(help="Digital-twin result JSON: utilisation and tier mix.")
    ] = None,
    power: Annotated[str | None, Opt(help="Power: 250MW, 1GW, 1.5GW.")] = None,
    power_basis: Annotated[str | None, Opt(help="facility (divide by PUE) or it.")] = None,
    pue: Annotated[str | None, Opt(help="Power usage effectiveness (>= 1).")] = None,
    gpu: Annotated[str | None, Opt(help="GPU type: H100, H200, B200, GB200, GB300.")] = None,
    kw_per_gpu: Annotated[str | None, Opt(help="All-in IT kW per GPU.")] = None,
    price: Annotated[str | None, Opt(help="Blended price per GPU-hour (USD).")] = None,
    utilization: Annotated[str | None, Opt(help="Billed utilisation, 0..1.")] = None,
    internal_share: Annotated[
        str | None, Opt(help="Share of capacity kept for own AI, 0..1.")
    ] = None,
    internal_value: Annotated[str | None, Opt(help="Value of an internal GPU-hour (USD).")] = None,
    capex_per_gw: Annotated[str | None, Opt(help="Capex per GW of IT power (e.g. 50B).")] = None,
    capex_per_gpu: Annotated[
        str | None, Opt(help="Capex per GPU (USD), plus facility per MW.")
    ] = None,
    life_years: Annotated[str | None, Opt(help="Depreciation life in years.")] = None,
    power_price: Annotated[str | None, Opt(help="Electricity price, USD per MWh.")] = None,
    load_factor: Annotated[str | None, Opt(help="Average draw / IT nameplate, 0..1.")] = None,
    opex_per_mw_year: Annotated[str | None, Opt(help="Fixed opex per MW-year (USD).")] = None,
    opex_pct_revenue: Annotated[str | None, Opt(help="Variable opex, share of revenue.")] = None,
    tax_rate: Annotated[str | None, Opt(help="Tax rate, 0..1.")] = None,
    shares: Annotated[str | None, Opt(help="Diluted shares (e.g. 2.57B).")] = None,
    cost_basis: Annotated[
        str | None, Opt(help="incremental (no new depreciation) or full.")
    ] = None,
    lease_price_per_watt_year: Annotated[
        str | None, Opt(help="Lease price, USD per W-year.")
    ] = None,
    token_price: Annotated[str | None, Opt(help="Price per million tokens (USD).")] = None,
    sell: Annotated[
        str | None, Opt(help="Sell all capacity as gpu_hours, tokens or lease.")
    ] = None,
    discount_rate: Annotated[str | None, Opt(help="Discount rate for NPV.")] = None,
    price_decline: Annotated[str | None, Opt(help="Yearly price decline, 0..1.")] = None,
    target_revenue: Annotated[
        str | None, Opt(help="Also solve the price for this revenue (20B).")
    ] = None,
    sensitivity_flag: Annotated[bool, Opt("--sensitivity", help="Add the tornado.")] = False,
    sensitivity_metric: Annotated[str, Opt(help="Tornado metric.")] = "eps_uplift_usd",
    monte_carlo_draws: Annotated[
        str | None, Opt("--monte-carlo", help="Monte Carlo draws N.")
    ] = None,
    seed: Annotated[str, Opt(help="Monte Carlo seed.")] = "0",
    format_: Annotated[str, Opt("--format", help="table or json.")] = "table",
    report: Annotated[str | None, Opt(help="Write a self-contained HTML report here.")] = None,
    plot: Annotated[str | None, Opt(help="Write the tornado chart (PNG) here.")] = None,
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
