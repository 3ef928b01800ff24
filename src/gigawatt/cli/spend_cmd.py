"""``gigawatt spend``: inference spend by tenant, key, model and day, from a running server
(``GET /v1/inference/spend``, with ``GIGAWATT_URL`` and ``GIGAWATT_API_KEY``)."""

from __future__ import annotations

from typing import Annotated

import typer

from gigawatt.cli.http import ApiClient
from gigawatt.cli.render import OutputFormat, emit

COLUMNS = (
    "tenant_id",
    "key_id",
    "model",
    "day",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "amount_usd",
)


def spend_command(
    group_by: Annotated[
        str, typer.Option("--group-by", help="comma-separated: tenant, key, model, day")
    ] = "tenant,model,day",
    since: Annotated[str | None, typer.Option(help="first UTC day, YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option(help="UTC day after the last, YYYY-MM-DD")] = None,
    tenant: Annotated[str | None, typer.Option(help="tenant id (admin only)")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = (
        OutputFormat.TABLE
    ),
) -> None:
    """Inference spend summed by tenant, key, model and/or day (your tenant; admin: all)."""
    params = {"group_by": group_by}
    for name, value in (("since", since), ("until", until), ("tenant_id", tenant)):
        if value is not None:
            params[name] = value
    report = ApiClient.from_env().request("GET", "/v1/inference/spend", params=params)
    if fmt is OutputFormat.JSON:
        emit(report, fmt)
        return
    emit(report["data"], fmt, COLUMNS, title=f"inference spend (total ${report['total_usd']})")
