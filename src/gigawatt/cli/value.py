"""``gigawatt value``: what N megawatts of GPUs earn sold, kept or both, and what drives it.

Layers, later ones winning: documented defaults < ``--preset`` < ``--scenario`` file <
``--from-sim`` result < flags (see :mod:`gigawatt.cli.value_inputs`). ``--compare PRESET ...``
values several presets side by side. Bad input prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gigawatt.cli.args import parse_choice, write_output
from gigawatt.cli.value_inputs import (
    FLAG_NAMES,
    NUMERIC_FLAGS,
    build_from_options,
    parse_amount,
    parse_count,
    read_sim,
)
from gigawatt.core.errors import GigawattError, InvalidInput
from gigawatt.economics import tables
from gigawatt.economics.compare import compare
from gigawatt.economics.evaluate import Evaluation, evaluate
from gigawatt.economics.montecarlo import MonteCarloResult, monte_carlo
from gigawatt.economics.presets import preset_names
from gigawatt.economics.sensitivity import METRICS, Tornado, sensitivity
from gigawatt.economics.simfrontier import SimFrontier, sim_frontier

__all__ = ["parse_amount", "progress_bar", "value_command"]

#: Monte Carlo draws for ``--report`` when ``--monte-carlo`` is not given.
REPORT_DRAWS = 100_000
#: Show a progress bar from this many draws on (when stderr is a terminal).
PROGRESS_FROM = 200_000
#: The analysts' figure every report sets this run beside (JPMorgan, about 2 Jul 2026).
ANALYST_REVENUE_PER_GW_USD = 20e9

Opt = typer.Option


def _opt(metavar: str, help_text: str, *names: str) -> Any:
    return typer.Option(*names, metavar=metavar, help=help_text)


def _num(help_text: str) -> Any:
    return typer.Option(metavar="NUMBER", help=help_text)


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
    if isinstance(value, float):
        return value + 0.0 if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _print(parts: list[tables.TextTable]) -> None:
    console = Console(width=max(Console().width, 160) if not sys.stdout.isatty() else None)
    for part in parts:
        table = Table(title=part.title)
        for k, head in enumerate(part.head):
            numeric = k > 0 and part.head[-1] != "Source"
            table.add_column(head, justify="right" if numeric else "left")
        for row in part.rows:
            table.add_row(*row)
        console.print(table)


def _tables(
    e: Evaluation,
    tornado: Tornado | None,
    mc: MonteCarloResult | None,
    frontier: SimFrontier | None,
) -> list[tables.TextTable]:
    parts = [tables.pnl_table(e), tables.segments_table(e), tables.valuation_table(e)]
    parts += [tables.allocation_table(e)] if e.allocation is not None else []
    parts += [tables.sim_frontier_table(frontier)] if frontier is not None else []
    parts += [tables.tornado_table(tornado)] if tornado is not None else []
    parts += [tables.monte_carlo_table(mc)] if mc is not None else []
    return [*parts, tables.assumptions_table(e)]


def _flags(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: opts.get(k) for k in FLAG_NAMES}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _command_line() -> str:
    return " ".join(["gigawatt", *sys.argv[1:]]) if sys.argv else "gigawatt value"


def _run(opts: dict[str, Any]) -> None:
    out_format = parse_choice(opts["format"], "format", ("table", "json"))
    given_metric = opts["sensitivity_metric"]
    metric = parse_choice(given_metric, "sensitivity_metric", METRICS) if given_metric else None
    if opts["compare"]:
        _run_compare(opts, out_format)
        return
    scenario = build_from_options(opts["preset"], opts["scenario"], opts["from_sim"], _flags(opts))
    target = opts["target_revenue"]
    target_usd = parse_amount(target, "target_revenue") if target is not None else None
    draws = parse_count(opts["monte_carlo"], "monte_carlo") if opts["monte_carlo"] else None
    seed = parse_count(opts["seed"], "seed", minimum=0)
    e = evaluate(scenario, target_revenue_usd=target_usd)
    frontier = None
    if opts["from_sim"]:
        frontier = sim_frontier(read_sim(opts["from_sim"]), e, opts["from_sim"])
    want_tornado = opts["sensitivity"] or opts["report"] or opts["plot"]
    if metric is None:  # EPS when there is a share count, else operating income
        has_shares = math.isfinite(e.resolved.inputs["diluted_shares"])
        metric = "eps_uplift_usd" if has_shares else "operating_income_usd"
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
        _write_report(opts, e, tornado, mc, frontier)
    for warning in e.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if out_format == "json":
        doc = e.to_dict()
        if frontier is not None and doc["allocation"] is not None:
            doc["allocation"]["simulated_frontier"] = frontier.to_dict()
        elif frontier is not None:
            doc["allocation"] = {"simulated_frontier": frontier.to_dict()}
        if draws and mc is not None:
            doc["monte_carlo"] = mc.to_dict()
        if opts["sensitivity"] and tornado is not None:
            doc["sensitivity"] = tornado.to_dict()
        typer.echo(json.dumps(_json_safe(doc), indent=2, allow_nan=False))
    else:
        shown_tornado = tornado if opts["sensitivity"] else None
        _print(_tables(e, shown_tornado, mc if draws else None, frontier))


def _write_report(
    opts: dict[str, Any],
    e: Evaluation,
    tornado: Tornado,
    mc: MonteCarloResult,
    frontier: SimFrontier | None,
) -> None:
    from gigawatt.economics.report import ReportContext, render_report

    s = e.scenario
    full = None
    if s.cost_basis == "incremental":
        full = evaluate(s.with_values({"cost_basis": "full"}, "report comparison"))
    strategies = compare(
        [
            ("sell all", s.with_values({"internal_share": 0.0, "optimize": None}, "report")),
            ("keep all", s.with_values({"internal_share": 1.0, "optimize": None}, "report")),
            ("best split", s.with_values({"optimize": "internal_share"}, "report")),
        ]
    )
    context = ReportContext(
        command_line=_command_line(),
        generated=_now(),
        analyst_revenue_per_gw_usd=ANALYST_REVENUE_PER_GW_USD,
        strategies=strategies,
        sim_frontier=frontier,
    )
    write_output(opts["report"], render_report(e, tornado, mc, full, context), "report")


def _run_compare(opts: dict[str, Any], out_format: str) -> None:
    names = [n for item in opts["presets"] or [] for n in item.split(",") if n.strip()]
    if opts["preset"]:
        names.insert(0, opts["preset"])
    if len(names) < 2:
        known = ", ".join(preset_names())
        raise InvalidInput(f"needs at least two presets; allowed: {known}", "compare")
    flags = _flags(opts)
    scenarios = [
        (name, build_from_options(name, opts["scenario"], opts["from_sim"], flags))
        for name in names
    ]
    result = compare(scenarios)
    if opts["report"]:
        from gigawatt.economics.report_sellkeep import render_comparison

        html = render_comparison(result, _command_line(), _now())
        write_output(opts["report"], html, "report")
    if out_format == "json":
        typer.echo(json.dumps(_json_safe(result.to_dict()), indent=2, allow_nan=False))
    else:
        _print([tables.compare_table(result)])


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
    sensitivity_metric: Annotated[
        str | None, _opt("METRIC", "Tornado metric (default: EPS, or OI without shares).")
    ] = None,
    monte_carlo_draws: Annotated[
        str | None, _opt("N", "Monte Carlo draws.", "--monte-carlo")
    ] = None,
    seed: Annotated[str, _opt("N", "Monte Carlo seed.")] = "0",
    format_: Annotated[str, _opt("table|json", "Output format.", "--format")] = "table",
    report: Annotated[str | None, _opt("FILE", "Write a self-contained HTML report.")] = None,
    plot: Annotated[str | None, _opt("FILE", "Write the tornado chart (PNG).")] = None,
    list_presets: Annotated[bool, Opt("--list-presets", help="List presets and exit.")] = False,
    internal_utilization: Annotated[str | None, _num("Utilisation of kept GPUs, 0..1.")] = None,
    internal_value_elasticity: Annotated[
        str | None, _num("alpha in (0, 1]: diminishing returns of kept GPUs.")
    ] = None,
    internal_reference_gpus: Annotated[str | None, _num("GPUs the internal value is at.")] = None,
    external_reference_gpus: Annotated[str | None, _num("GPUs the external price is at.")] = None,
    price_premium_when_scarce: Annotated[
        str | None, _num("s >= 0: price premium as less is sold.")
    ] = None,
    selling_cost_pct_revenue: Annotated[
        str | None, _num("Sales, support, SLA credits: share of revenue.")
    ] = None,
    operating_margin: Annotated[
        str | None, _num("State the sold wheel's margin (-1..1) instead of its costs.")
    ] = None,
    lease_term_years: Annotated[str | None, _num("Lease term; then capacity is kept.")] = None,
    lease_basis: Annotated[str | None, _opt("it|facility", "Watt a lease is priced per.")] = None,
    year: Annotated[str | None, _opt("YYYY", "Fiscal year: its shares and tax.")] = None,
    platform_pe: Annotated[str | None, _num("P/E on the kept wheel's earnings.")] = None,
    cloud_pe: Annotated[str | None, _num("P/E on the sold wheel's earnings.")] = None,
    base_net_income: Annotated[str | None, _num("Company net income without this.")] = None,
    base_pe: Annotated[str | None, _num("Company P/E without this.")] = None,
    rerating_at_full_sale: Annotated[
        str | None, _num("P/E change when all is sold (-2, 1.5).")
    ] = None,
    share_price: Annotated[str | None, _num("Share price (USD).")] = None,
    observed_price_move: Annotated[
        str | None, _num("Observed price move (-3%): solve the re-rating.")
    ] = None,
    optimize: Annotated[str | None, _opt("internal_share", "Find the best split.")] = None,
    objective: Annotated[str | None, _opt("eps|npv|equity_value", "What to maximise.")] = None,
    compare_flag: Annotated[
        bool, Opt("--compare", help="Compare the presets named as arguments.")
    ] = False,
    presets: Annotated[
        list[str] | None, typer.Argument(metavar="[PRESET]...", help="Presets for --compare.")
    ] = None,
) -> None:
    """What is N MW of GPUs worth sold, kept or both? P&L, EPS, NPV, valuation, best split."""
    opts = dict(locals())
    opts["sensitivity"] = opts.pop("sensitivity_flag")
    opts["monte_carlo"] = opts.pop("monte_carlo_draws")
    opts["format"] = opts.pop("format_")
    opts["compare"] = opts.pop("compare_flag")
    try:
        if list_presets:
            for name in preset_names():
                typer.echo(name)
            return
        if presets and not opts["compare"]:
            raise InvalidInput(
                f"unexpected argument {presets[0]!r}; allowed: preset names after --compare",
                "compare",
            )
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
