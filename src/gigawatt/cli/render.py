"""Output of client commands: rich tables for people, ``--format json`` for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    """How a command prints its result."""

    TABLE = "table"
    JSON = "json"


_TIME_KEYS = frozenset({"start", "end"})
#: Epoch seconds after 2001 are shown as UTC times in tables.
_EPOCH_FLOOR = 1e9


def _is_time(key: str) -> bool:
    return key in _TIME_KEYS or key.endswith("_at")


def _cell(value: Any, key: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int) and not isinstance(value, bool):
        if _is_time(key) and value > _EPOCH_FLOOR:
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, float):
            return f"{value:,.6f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.2f}"
    if isinstance(value, list | tuple):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


#: Width used when stdout is not a terminal: tables are as wide as their content, never cut.
PIPED_WIDTH = 100_000


def make_console() -> Console:
    """A terminal keeps its own width; piped output is never wrapped or cut (to 80 columns
    or any other width), so ``grep`` and ``awk`` see whole rows."""
    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


def emit(
    data: Any,
    fmt: OutputFormat,
    columns: Sequence[str] = (),
    title: str | None = None,
) -> None:
    """Print ``data`` (a dict, or a list of dicts) as JSON or as a table.

    ``columns`` chooses and orders the table's columns (those the server did not send are
    skipped); a single object is shown as a field/value table.
    """
    console = make_console()
    if fmt is OutputFormat.JSON:
        console.print_json(json.dumps(data, default=str))
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if isinstance(data, list):
        rows = [r for r in data if isinstance(r, dict)]
        keys = [c for c in columns if any(c in r for r in rows)] or (
            list(rows[0]) if rows else list(columns)
        )
        table = Table(title=title, show_lines=False)
        for key in keys:
            table.add_column(key)
        for row in rows:
            table.add_row(*(_cell(row.get(k), k) for k in keys))
        console.print(table)
        return
    if isinstance(data, dict):
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                continue  # nested rows are printed below
            table.add_row(key, _cell(value, key))
        console.print(table)
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                emit(value, fmt, title=key)
        return
    console.print(_cell(data))
