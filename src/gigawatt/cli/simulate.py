"""``gigawatt simulate``: the digital twin. Replays a trace or a generated workload through the
live scheduler and price book on a virtual clock and reports utilisation, queueing, revenue.

Bad input prints one line on stderr (``error: …``) and exits with code 2.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gigawatt.cli.args import parse_choice, write_output
from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import GigawattError, InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import Ordering
from gigawatt.sim.run import SimOptions, prepare, simulate
from gigawatt.sim.tables import print_run, print_sweep
from gigawatt.sim.window import parse_warmup
from gigawatt.sim.workload_file import DEFAULT_WORKLOAD, builtin_workloads

#: Draw a progress bar (on a terminal) from this many jobs on.
PROGRESS_FROM = 20_000


def _number(
    text: str | None, field: str, *, minimum: float = 0.0, strict: bool = True
) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise InvalidInput(f"got {text!r}; allowed: a number {bound}", field)
    return value


def _count(text: str | None, field: str, minimum: int) -> int | None:
    value = _number(text, field, minimum=minimum, strict=False)
    if value is None:
        return None
    if not value.is_integer():
        raise InvalidInput(f"got {text!r}; allowed: a whole number >= {minimum}", field)
    return int(value)


def _tier_mix(text: str | None) -> dict[Tier, float] | None:
    """``internal=0.4,reserved=0.2,on_demand=0.2,spot=0.2``."""
    if text is None:
        return None
    out: dict[Tier, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        try:
            tier = Tier(name.strip().lower().replace("-", "_"))
        except ValueError:
            allowed = ", ".join(t.value for t in Tier)
            raise InvalidInput(
                f"unknown tier {name.strip()!r}; allowed: {allowed}", "tier_mix"
            ) from None
        value = _number(share.strip() or None, "tier_mix", strict=False)
        out[tier] = value if value is not None else -1.0
        if out[tier] < 0:
            raise InvalidInput(f"{part!r}: expected TIER=SHARE", "tier_mix")
    if sum(out.values()) <= 0:
        raise InvalidInput("shares must add up to more than 0", "tier_mix")
    return out


def _path(text: str | None, field: str) -> Path | None:
    if text is None:
        return None
    path = Path(text)
    if not path.is_file():
        raise InvalidInput(f"no such file: {text}", field)
    return path


def _workload(text: str | None) -> Path | None:
    """A workload file, or the name of a built-in one (``million``, ``cloud-mix``, ...)."""
    if text is None or Path(text).is_file():
        return None if text is None else Path(text)
    builtin = builtin_workloads()
    if text in builtin:
        return builtin[text]
    names = ", ".join(builtin)
    raise InvalidInput(f"no such file: {text} (built-in workloads: {names})", "workload")


@contextmanager
def progress_bar(
    total_s: float, console: Console | None
) -> Iterator[Callable[[float], None] | None]:
    """A ``progress(virtual seconds done)`` callback drawing a rich bar (None: no bar)."""
    if console is None or total_s <= 0:
        yield None
        return
    columns = (
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[days]:,.2f} of {task.fields[total_days]:,.2f} days"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("virtual time", total=total_s, days=0.0, total_days=total_s / 86400)
        yield lambda now: bar.update(task, completed=min(now, total_s), days=now / 86400)


def _writable(text: str | None, field: str) -> None:
    """Fail before a long run when an output file cannot be written."""
    if text is None:
        return
    parent = Path(text).resolve().parent
    if not parent.is_dir():
        raise InvalidInput(f"cannot write {text}: no such directory {parent}", field)
    if Path(text).is_dir():
        raise InvalidInput(f"cannot write {text}: it is a directory", field)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _given(opts: dict[str, Any]) -> dict[str, Any]:
    """The simulation options given on the command line, parsed (absent ones left out)."""
    values: dict[str, Any] = {
        "trace": _path(opts["trace"], "trace"),
        "workload": _workload(opts["workload"]),
        "fleet": _path(opts["fleet"], "fleet"),
        "gpus": _count(opts["gpus"], "gpus", 1),
        "power": opts["power"],
        "gpu": opts["gpu"],
        "nodes": _path(opts["nodes"], "nodes"),
        "days": _number(opts["days"], "days"),
        "load": _number(opts["load"], "load"),
        "time_scale": _number(opts["time_scale"], "time_scale"),
        "seed": _count(opts["seed"], "seed", 0),
        "tier_mix": _tier_mix(opts["tier_mix"]),
        "demand_scale": _number(opts["demand_scale"], "demand_scale"),
        "external_cap_gpus": _count(opts["external_cap_gpus"], "external_cap_gpus", 0),
        "warmup": None if opts["warmup"] is None else parse_warmup(opts["warmup"]),
    }
    if opts["policy"] is not None:
        allowed = tuple(o.value for o in Ordering)
        values["policy"] = Ordering(parse_choice(opts["policy"], "policy", allowed))
    return {k: v for k, v in values.items() if v is not None}


def _sweep(
    path: Path, given: dict[str, Any], out_format: str, ray_address: str | None = None
) -> None:
    from gigawatt.sim.sweep import load_sweep, run_sweep, scenario_options

    scenarios = scenario_options(load_sweep(path), path.parent, given)
    try:
        results = run_sweep(scenarios, ray_address=ray_address)
    except ImportError as exc:
        raise InvalidInput(f"needs the ray extra: {exc}", "ray_address") from None
    if out_format == "json":
        typer.echo(json.dumps(_json_safe({"scenarios": results}), indent=2, allow_nan=False))
        return
    console = Console()
    if not console.is_terminal:  # a file or a pipe: room for every column
        console = Console(width=max(console.width, 200))
    print_sweep(f"Sweep: {path.name} ({len(results)} scenarios)", results, console)


def _run(opts: dict[str, Any]) -> None:
    out_format = parse_choice(opts["format"], "format", ("table", "json"))
    given = _given(opts)
    if opts["sweep"] is not None:
        if opts["report"] or opts["plot"]:
            raise InvalidInput("--report and --plot apply to single runs, not --sweep", "sweep")
        _sweep(_path(opts["sweep"], "sweep") or Path(), given, out_format, opts["ray_address"])
        return
    if opts["ray_address"] is not None:
        raise InvalidInput("applies to --sweep only", "ray_address")
    if "trace" not in given and "workload" not in given:
        given["workload"] = builtin_workloads()[DEFAULT_WORKLOAD]
    options = SimOptions(**given)
    _writable(opts["report"], "report")
    _writable(opts["plot"], "plot")
    catalogue = default_catalogue()
    prepared = prepare(options, catalogue)
    w = prepared.workload
    total = prepared.horizon_s if prepared.horizon_s is not None else w.span_s
    show = len(w) >= PROGRESS_FROM and sys.stderr.isatty()
    policy = options.scheduling_policy()
    with progress_bar(total, Console(stderr=True) if show else None) as progress:
        start = float(w.submit_s[0])
        tick = None if progress is None else (lambda now: progress(now - start))
        result = simulate(
            prepared, catalogue, policy, seed=options.seed, progress=tick, warmup=options.warmup
        )
    if opts["plot"]:
        from gigawatt.sim.charts import dashboard_png

        write_output(opts["plot"], dashboard_png(result), "plot")
    if opts["report"]:
        from gigawatt.sim.html import render_report

        write_output(opts["report"], render_report(result), "report")
    if out_format == "json":
        typer.echo(json.dumps(_json_safe(result.to_json()), indent=2, allow_nan=False))
    else:
        print_run(result, Console())


def _opt(metavar: str, help_text: str, *names: str) -> Any:
    return typer.Option(*names, metavar=metavar, help=help_text)


def simulate_command(
    trace: Annotated[
        str | None, _opt("FILE", "Trace CSV: Philly, Alibaba v2023 pods, Azure LLM.")
    ] = None,
    workload: Annotated[
        str | None,
        _opt(
            "FILE|NAME",
            f"Workload YAML (tenant classes), or a built-in one: {', '.join(builtin_workloads())}"
            f" (default without --trace: {DEFAULT_WORKLOAD}).",
        ),
    ] = None,
    fleet: Annotated[str | None, _opt("FILE", "Fleet YAML.")] = None,
    gpus: Annotated[
        str | None, _opt("N", "A fleet of N GPUs in 8-GPU nodes (default 2000).")
    ] = None,
    power: Annotated[str | None, _opt("POWER", "Size the fleet from power: 250MW, 1GW.")] = None,
    gpu: Annotated[str | None, _opt("TYPE", "GPU type for --gpus/--power (default H100).")] = None,
    nodes: Annotated[str | None, _opt("FILE", "Alibaba v2023 node list: the fleet.")] = None,
    policy: Annotated[
        str | None, _opt("fifo|fifo-skip|sjf|priority", "Scheduling policy (priority).")
    ] = None,
    days: Annotated[str | None, _opt("DAYS", "Simulate this many days.")] = None,
    load: Annotated[
        str | None, _opt("LOAD", "Stretch arrivals to this offered load (0.9).")
    ] = None,
    time_scale: Annotated[str | None, _opt("X", "Multiply trace inter-arrival times by X.")] = None,
    seed: Annotated[str | None, _opt("N", "Random seed (0).")] = None,
    tier_mix: Annotated[str | None, _opt("MIX", "Tiers for Philly: internal=0.4,spot=0.6.")] = None,
    demand_scale: Annotated[str | None, _opt("X", "Azure trace: X times its demand.")] = None,
    warmup: Annotated[
        str | None,
        _opt("auto|none|SECONDS", "Warm-up left out of the figures (auto: until steady)."),
    ] = None,
    external_cap_gpus: Annotated[
        str | None, _opt("N", "At most N GPUs run external tiers (default: no cap).")
    ] = None,
    format_: Annotated[str, _opt("table|json", "Output format.", "--format")] = "table",
    report: Annotated[str | None, _opt("FILE", "Write a self-contained HTML report.")] = None,
    plot: Annotated[str | None, _opt("FILE", "Write the charts (PNG).")] = None,
    sweep: Annotated[
        str | None, _opt("FILE", "Run the scenarios of a sweep YAML in parallel.")
    ] = None,
    ray_address: Annotated[
        str | None, _opt("HOST:PORT", "With --sweep: run the scenarios as Ray tasks there.")
    ] = None,
) -> None:
    """Digital twin: replay a trace or workload through the live scheduler and price book."""
    opts = dict(locals())
    opts["format"] = opts.pop("format_")
    try:
        _run(opts)
    except GigawattError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
