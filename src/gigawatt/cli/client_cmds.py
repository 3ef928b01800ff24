"""Client commands that talk to a running server: tenants, keys, jobs, usage, invoices.

They use ``GIGAWATT_URL`` and ``GIGAWATT_API_KEY`` (see :mod:`gigawatt.cli.http`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gigawatt.cli.http import ApiClient, fail
from gigawatt.cli.render import OutputFormat, emit

FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="table or json")]

#: Shown under every client command's help: where the server and the key come from.
ENV_HELP = (
    "Server: GIGAWATT_URL (default http://127.0.0.1:8000). Key: GIGAWATT_API_KEY (the admin key "
    "gigawatt serve printed, or a tenant key)."
)
tenants_app = typer.Typer(help="Manage tenants (admin key).", epilog=ENV_HELP, no_args_is_help=True)
keys_app = typer.Typer(
    help="Create, list and revoke API keys.", epilog=ENV_HELP, no_args_is_help=True
)
jobs_app = typer.Typer(
    help="Submit and follow training jobs.", epilog=ENV_HELP, no_args_is_help=True
)
invoices_app = typer.Typer(
    help="Invoices per tenant and period.", epilog=ENV_HELP, no_args_is_help=True
)

JOB_COLUMNS = ("id", "name", "status", "tier", "gpu_type", "gpus", "submitted_at", "reason")
INVOICE_COLUMNS = (
    "id",
    "tenant_id",
    "period",
    "sequence",
    "status",
    "subtotal_usd",
    "credits_usd",
    "total_usd",
)
USAGE_COLUMNS = (
    "kind",
    "job_id",
    "model",
    "gpu_type",
    "tier",
    "gpus",
    "start",
    "end",
    "gpu_seconds",
    "energy_kwh",
    "amount_usd",
)


def _client() -> ApiClient:
    return ApiClient.from_env()


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="tenant name")],
    kind: Annotated[str, typer.Option(help="internal or external")] = "external",
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Create a tenant."""
    emit(_client().request("POST", "/v1/tenants", json={"name": name, "kind": kind}), fmt)


@tenants_app.command("list")
def tenants_list(fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """List tenants."""
    emit(_client().request("GET", "/v1/tenants"), fmt, ("id", "name", "kind", "created_at"))


KEY_COLUMNS = (
    "id",
    "tenant_id",
    "prefix",
    "name",
    "created_at",
    "last_used_at",
    "expires_at",
    "scopes",
    "revoked_at",
)


@keys_app.command("create")
def keys_create(
    tenant_id: Annotated[
        str | None, typer.Argument(help="tenant id (admin; a tenant key: its own tenant)")
    ] = None,
    name: Annotated[str, typer.Option(help="a label for the key")] = "",
    ttl_s: Annotated[int | None, typer.Option("--ttl-s", help="expire after this long")] = None,
    expires_at: Annotated[
        float | None, typer.Option("--expires-at", help="expire at this Unix time")
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help="an inference model the key may call (repeatable)")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="another admin key (rotation)")] = False,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Create an API key; the key is shown once."""
    body: dict[str, Any] = {"name": name, "admin": admin}
    optional = {"tenant_id": tenant_id, "ttl_s": ttl_s, "expires_at": expires_at, "scopes": scope}
    body.update({k: v for k, v in optional.items() if v is not None})
    emit(_client().request("POST", "/v1/keys", json=body), fmt)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="tenant id (admin only)")] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """List API keys (admin: all, or one tenant's; a tenant: its own). Never the secrets."""
    params = {"tenant_id": tenant} if tenant else {}
    emit(_client().request_all("/v1/keys", params), fmt, KEY_COLUMNS, title="keys")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="key id (see keys list)")],
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Revoke an API key: it is refused from now on."""
    key = _client().request("POST", f"/v1/keys/{key_id}/revoke")
    emit(key if fmt is OutputFormat.JSON else [key], fmt, KEY_COLUMNS)


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--env expects NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


@jobs_app.command("submit")
def jobs_submit(
    command: Annotated[list[str], typer.Argument(help="command and arguments (after --)")],
    name: Annotated[str, typer.Option(help="job name")] = "job",
    gpus: Annotated[int, typer.Option(help="number of GPUs")] = 1,
    gpu_type: Annotated[str, typer.Option("--gpu-type", help="GPU type, e.g. H100")] = "H100",
    tier: Annotated[str, typer.Option(help="internal, reserved, on_demand or spot")] = "on_demand",
    max_runtime_s: Annotated[
        int | None, typer.Option("--max-runtime-s", help="stop the job after this long")
    ] = None,
    env: Annotated[list[str] | None, typer.Option(help="NAME=VALUE, repeatable")] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Submit a job: ``gigawatt jobs submit --gpus 8 -- python train.py``."""
    body: dict[str, Any] = {
        "name": name,
        "command": command,
        "gpus": gpus,
        "gpu_type": gpu_type,
        "tier": tier,
    }
    if max_runtime_s is not None:
        body["max_runtime_s"] = max_runtime_s
    if env:
        body["env"] = _parse_env(env)
    job = _client().request("POST", "/v1/jobs", json=body)
    emit(job if fmt is OutputFormat.JSON else [job], fmt, JOB_COLUMNS)


@jobs_app.command("list")
def jobs_list(fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """List your jobs."""
    emit(_client().request("GET", "/v1/jobs"), fmt, JOB_COLUMNS, title="jobs")


@jobs_app.command("show")
def jobs_show(job_id: str, fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """Show one job."""
    emit(_client().request("GET", f"/v1/jobs/{job_id}"), fmt)


@jobs_app.command("logs")
def jobs_logs(job_id: str) -> None:
    """Print a job's captured output."""
    body = _client().request("GET", f"/v1/jobs/{job_id}/logs")
    if isinstance(body, dict):
        text = body.get("logs", body.get("text"))
        typer.echo(text if isinstance(text, str) else json.dumps(body, indent=2))
    else:
        typer.echo(body)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """Cancel a job (queued: at once; running: graceful stop, billed for what ran)."""
    emit(_client().request("POST", f"/v1/jobs/{job_id}/cancel"), fmt)


def usage(
    tenant: Annotated[str | None, typer.Option(help="tenant id (admin only)")] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Usage records of your tenant (admin: all, or one tenant)."""
    params = {"tenant": tenant} if tenant else None
    emit(_client().request("GET", "/v1/usage", params=params), fmt, USAGE_COLUMNS, title="usage")


@invoices_app.command("list")
def invoices_list(fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """List invoices."""
    emit(
        _client().request_all("/v1/invoices"),
        fmt,
        INVOICE_COLUMNS,
        title="invoices",
    )


@invoices_app.command("show")
def invoices_show(invoice_id: str, fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """Show an invoice with its lines."""
    emit(_client().request("GET", f"/v1/invoices/{invoice_id}"), fmt)


@invoices_app.command("close")
def invoices_close(
    period: Annotated[
        str | None, typer.Option(help="period to close, e.g. 2026-11 (default: the current one)")
    ] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Close a billing period and issue its invoices (admin). Closing twice changes nothing."""
    body = {"period": period} if period else {}
    result = _client().request("POST", "/v1/invoices/close", json=body)
    if fmt is OutputFormat.JSON or not isinstance(result, dict):
        emit(result, fmt)
        return
    created = set(result.get("created") or ())
    rows = [{**inv, "new": "yes" if inv.get("id") in created else ""} for inv in result["invoices"]]
    title = f"period {result.get('period')}: {len(created)} new invoice(s), {len(rows)} in all"
    emit(rows, fmt, ("new", *INVOICE_COLUMNS), title=title)


def register(app: typer.Typer) -> None:
    """Attach the client commands to the root app."""
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(keys_app, name="keys")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(invoices_app, name="invoices")
    app.command("usage")(usage)
