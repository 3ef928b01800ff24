"""Reading trace CSV files: header checks and errors that name the file and line."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from gigawatt.core.errors import InvalidInput


class TraceError(InvalidInput):
    """A trace file is unreadable or has a bad row (the message names file and line)."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        where = f"{path}" if line is None else f"{path} line {line}"
        super().__init__(message, where)
        self.line = line


def read_header(path: Path | str) -> list[str]:
    """The column names of a CSV file (first line), stripped."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            first = fh.readline()
    except OSError as exc:
        raise TraceError(path, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TraceError(path, "not a UTF-8 text file") from exc
    if not first.strip():
        raise TraceError(path, "empty file: no header line")
    return [c.strip() for c in next(csv.reader([first]))]


def rows(path: Path | str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` pairs of a CSV file that must have the ``required`` columns."""
    header = read_header(path)
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(path, f"missing column(s) {', '.join(missing)}", 1)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            index = [header.index(c) for c in required]
            width = max(index) + 1
            for n, raw in enumerate(reader, start=2):
                if not raw or (len(raw) == 1 and not raw[0].strip()):
                    continue
                if len(raw) < width:
                    raise TraceError(path, f"expected {len(header)} fields, got {len(raw)}", n)
                yield n, {c: raw[i].strip() for c, i in zip(required, index, strict=True)}
    except UnicodeDecodeError as exc:
        raise TraceError(path, "not a UTF-8 text file") from exc
    except csv.Error as exc:
        raise TraceError(path, f"malformed CSV: {exc}") from exc


def number(
    path: Path | str, line: int, column: str, text: str, *, allow_empty: bool = False
) -> float:
    """Parse a non-negative number of column ``column``; :class:`TraceError` otherwise."""
    if not text:
        if allow_empty:
            return float("nan")
        raise TraceError(path, f"empty {column}", line)
    try:
        value = float(text)
    except ValueError as exc:
        raise TraceError(path, f"{column} is not a number: {text!r}", line) from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise TraceError(path, f"{column} is not a finite number: {text!r}", line)
    if value < 0:
        raise TraceError(path, f"negative {column}: {text}", line)
    return value


def integer(path: Path | str, line: int, column: str, text: str) -> int:
    """Parse a non-negative whole number of column ``column``."""
    value = number(path, line, column, text)
    if value != int(value):
        raise TraceError(path, f"{column} is not a whole number: {text!r}", line)
    return int(value)
