"""``gigawatt serve``: the live control plane (HTTP API + control loop) in one process.

With no options: SQLite file under the user's data directory, the local process backend, the
default fleet (one site, 4 nodes x 8 H100), listening on 127.0.0.1:8000. The admin API key
comes from ``GIGAWATT_ADMIN_KEY`` or is generated on first start and printed once. With
``--backend ray`` the nodes come from the cluster (re-read every ``--fleet-refresh-s``); the
fleet file then gives the power budgets of the sites it names.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from platformdirs import user_data_dir

from gigawatt.cli.serve_http import (
    DEFAULT_BACKLOG,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_THREADS,
    HttpSettings,
    PortInUse,
    bind,
)
from gigawatt.cli.serve_http import run as run_http
from gigawatt.core.errors import GigawattError, InvalidInput

if TYPE_CHECKING:
    from gigawatt.backends.base import Backend

BACKENDS = ("local", "ray", "fake")


def _data_dir() -> Path:
    return Path(user_data_dir("gigawatt", appauthor=False))


def _hidden(url: str, data: Path) -> list[Path]:
    """What sandboxed jobs must not see besides the state directory: the data directory and
    the SQLite database (its directory, unless that holds code, then the files)."""
    hidden = [data]
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        db = Path(url[len("sqlite:///") :]).resolve()
        parent = db.parent
        if parent != Path("/") and not any(Path(p).is_relative_to(parent) for p in sys.path if p):
            hidden.append(parent)
        else:
            hidden += [db, *(db.with_name(db.name + x) for x in ("-wal", "-shm", "-journal"))]
    return hidden


def _backend(
    name: str, state_dir: Path, ray_address: str, isolation: str, hide: list[Path]
) -> Backend:
    if name == "local":
        from gigawatt.backends.local import LocalBackend

        return LocalBackend(state_dir, isolation=isolation, hide=hide)
    if name == "fake":
        from gigawatt.backends.fake import FakeBackend

        return FakeBackend()
    if name == "ray":
        try:
            module = importlib.import_module("gigawatt.backends.ray.backend")
        except ImportError as exc:
            raise InvalidInput(
                f"the ray backend is not available ({exc}); install gigawatt[ray] or use "
                "--backend local",
                "backend",
            ) from exc
        backend: Backend = module.RayBackend(ray_address, state_dir, isolation=isolation)
        return backend
    raise InvalidInput(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}", "backend")


def serve_command(
    host: Annotated[
        str, typer.Option(envvar="GIGAWATT_HOST", help="address to listen on")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="GIGAWATT_PORT", help="TCP port", min=0, max=65535)
    ] = 8000,
    db: Annotated[
        str | None,
        typer.Option(
            help="database URL (sqlite:///FILE or postgresql+psycopg://…); default: "
            "GIGAWATT_DATABASE_URL, else a SQLite file in the user data directory"
        ),
    ] = None,
    backend: Annotated[
        str, typer.Option(envvar="GIGAWATT_BACKEND", help="local, ray (or fake, for demos)")
    ] = "local",
    fleet: Annotated[
        Path | None, typer.Option(help="fleet YAML file (default fleet if absent)")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="where job logs and exit files go")
    ] = None,
    grace_s: Annotated[float, typer.Option("--grace-s", help="SIGTERM→SIGKILL grace")] = 10.0,
    tick_s: Annotated[float, typer.Option("--tick-s", help="control loop period")] = 0.25,
    lease_ttl_s: Annotated[float, typer.Option("--lease-ttl-s", help="control lease")] = 5.0,
    fleet_refresh_s: Annotated[
        float,
        typer.Option("--fleet-refresh-s", help="seconds between reads of the cluster's nodes"),
    ] = 5.0,
    internal_floor_gpus: Annotated[int, typer.Option("--internal-floor-gpus", min=0)] = 0,
    external_cap_gpus: Annotated[int | None, typer.Option("--external-cap-gpus", min=0)] = None,
    ray_address: Annotated[str, typer.Option("--ray-address", envvar="RAY_ADDRESS")] = "auto",
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    inference: Annotated[
        list[str] | None,
        typer.Option(
            "--inference",
            help="inference gateway setting KEY=VALUE, repeatable (env GIGAWATT_INFERENCE_KEY)",
        ),
    ] = None,
    keep_alive_s: Annotated[
        int,
        typer.Option(
            "--timeout-keep-alive",
            envvar="GIGAWATT_KEEP_ALIVE_S",
            min=1,
            help="seconds an idle kept-alive HTTP connection stays open (above clients' 5 s)",
        ),
    ] = DEFAULT_KEEP_ALIVE_S,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", envvar="GIGAWATT_THREADS", min=1, help="worker threads for API requests"
        ),
    ] = DEFAULT_THREADS,
    limit_concurrency: Annotated[
        int | None,
        typer.Option("--limit-concurrency", min=1, help="answer 503 above this many connections"),
    ] = None,
    backlog: Annotated[int, typer.Option("--backlog", min=1, help="TCP listen backlog")] = (
        DEFAULT_BACKLOG
    ),
    graceful_shutdown_s: Annotated[
        int | None,
        typer.Option("--timeout-graceful-shutdown", min=0, help="seconds to finish requests"),
    ] = None,
    control_loop: Annotated[
        bool,
        typer.Option(
            "--control-loop/--no-control-loop",
            help="run the control loop (scheduling, metering) here; without it the process "
            "serves the API only, and another server's loop schedules what it queues",
        ),
    ] = True,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            envvar="GIGAWATT_ACCESS_LOG",
            help="log one line per HTTP request",
        ),
    ] = True,
    isolation: Annotated[
        str,
        typer.Option(
            envvar="GIGAWATT_ISOLATION",
            help="bwrap: sandbox external tenants' jobs (refused when impossible); none: no "
            "sandbox (warns)",
        ),
    ] = "bwrap",
) -> None:
    """Run the control plane: HTTP API, scheduler loop, metering and billing."""
    # Heavy imports here, so that other commands start fast.
    from sqlalchemy.exc import SQLAlchemyError

    from gigawatt.api import create_app
    from gigawatt.core.catalogue import default_catalogue
    from gigawatt.core.fleet import default_fleet, load_fleet
    from gigawatt.inference.config import inference_settings
    from gigawatt.services.auth import ensure_admin_key
    from gigawatt.services.platform import open_platform
    from gigawatt.services.settings import Settings

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:  # the port first: a busy port fails here, before anything is opened or printed
        sock = bind(host, port, backlog)
    except PortInUse as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    data = _data_dir()
    url = db or os.environ.get("GIGAWATT_DATABASE_URL") or f"sqlite:///{data / 'gigawatt.db'}"
    state = state_dir or data / "state"
    try:
        settings = Settings(
            database_url=url,
            grace_s=grace_s,
            tick_s=tick_s,
            run_control_loop=control_loop,
            lease_ttl_s=lease_ttl_s,
            fleet_refresh_s=fleet_refresh_s,
            admin_key=os.environ.get("GIGAWATT_ADMIN_KEY") or None,
            internal_floor_gpus=internal_floor_gpus,
            external_cap_gpus=external_cap_gpus,
            state_dir=state,
            crash_point=os.environ.get("GIGAWATT_CRASH_POINT") or None,
            inference=inference_settings(os.environ, inference or []),
        )
        catalogue = default_catalogue()
        spec = load_fleet(fleet, catalogue) if fleet is not None else default_fleet()
        state.mkdir(parents=True, exist_ok=True)
        jobs = _backend(backend, state, ray_address, isolation, _hidden(url, data))
        platform = open_platform(settings, jobs, fleet=spec, catalogue=catalogue)
        admin_key = ensure_admin_key(platform)
    except GigawattError as exc:
        sock.close()
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as exc:
        sock.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"error: cannot open the database {url!r}: {first}", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:  # pydantic settings validation
        sock.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if admin_key is not None:
        typer.echo("Admin API key (shown only now; store it safely):")
        typer.echo(f"  export GIGAWATT_API_KEY={admin_key}")
    isolated = platform.backend.isolation()
    if isolated == "none":
        typer.echo(
            "WARNING: --isolation none: jobs run unsandboxed as this server's user", err=True
        )
    elif isolated == "unavailable":
        typer.echo(f"WARNING: {platform.backend.refusal(True)}", err=True)
    fleet_now = platform.state
    found = f" on {len(fleet_now.nodes)} discovered nodes" if fleet_now.discovered else ""
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{sock.getsockname()[1]}"
    typer.echo(
        f"Gigawatt serving on {base} (database {platform.engine.url!r}, "
        f"backend {backend}, {fleet_now.total_gpus()} GPUs{found})",
    )
    app = create_app(platform, inference=settings.inference)
    typer.echo(f"Console: {base}/  API docs: {base}/docs")
    http = HttpSettings(
        host=host,
        port=port,
        keep_alive_s=keep_alive_s,
        threads=threads,
        limit_concurrency=limit_concurrency,
        backlog=backlog,
        graceful_shutdown_s=graceful_shutdown_s,
        log_level=log_level,
        access_log=access_log,
    )
    run_http(app, sock, http)
