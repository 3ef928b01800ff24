"""Reading trace CSV files: header checks, vectorised column parsing, errors naming the line."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gigawatt.core.errors import InvalidInput
from gigawatt.sim.workload import FloatArray, IntArray


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


class Columns:
    """The ``required`` columns of a CSV file as lists of strings, with each row's line number."""

    def __init__(self, path: Path | str, required: Sequence[str]) -> None:
        self.path = path
        header = read_header(path)
        missing = [c for c in required if c not in header]
        if missing:
            raise TraceError(path, f"missing column(s) {', '.join(missing)}", 1)
        index = [header.index(c) for c in required]
        width = max(index) + 1
        lines: list[int] = []
        values: list[list[str]] = [[] for _ in required]
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                for n, raw in enumerate(reader, start=2):
                    if len(raw) < width:
                        if not raw or (len(raw) == 1 and not raw[0].strip()):
                            continue
                        raise TraceError(path, f"expected {len(header)} fields, got {len(raw)}", n)
                    lines.append(n)
                    for col, i in zip(values, index, strict=True):
                        col.append(raw[i].strip())
        except UnicodeDecodeError as exc:
            raise TraceError(path, "not a UTF-8 text file") from exc
        except csv.Error as exc:
            raise TraceError(path, f"malformed CSV: {exc}") from exc
        self.lines = lines
        self.values = dict(zip(required, values, strict=True))

    def __len__(self) -> int:
        return len(self.lines)

    def error(self, row: int, message: str) -> TraceError:
        """A :class:`TraceError` for data row ``row`` (0-based), naming its line."""
        return TraceError(self.path, message, self.lines[row])

    def numbers(self, name: str, *, allow_empty: bool = False) -> FloatArray:
        """Column ``name`` as non-negative finite floats (empty cells NaN when allowed)."""
        raw = self.values[name]
        try:
            out = np.array([x if x else "nan" for x in raw], dtype=np.float64)
        except ValueError:
            out = np.full(len(raw), np.nan)
            for k, x in enumerate(raw):
                if not x:
                    continue
                try:
                    out[k] = float(x)
                except ValueError:
                    raise self.error(k, f"{name} is not a number: {x!r}") from None
        finite = np.isfinite(out)
        if not finite.all():
            for bad in np.flatnonzero(~finite).tolist():
                text = raw[bad]
                if text or not allow_empty:
                    what = f"{name} is not a finite number: {text!r}" if text else f"empty {name}"
                    raise self.error(bad, what)
        negative = np.flatnonzero(out < 0)
        if len(negative):
            k = int(negative[0])
            raise self.error(k, f"negative {name}: {raw[k]}")
        return out

    def integers(self, name: str) -> IntArray:
        """Column ``name`` as non-negative whole numbers."""
        values = self.numbers(name)
        fractional = np.flatnonzero(values != np.floor(values))
        if len(fractional):
            k = int(fractional[0])
            raise self.error(k, f"{name} is not a whole number: {self.values[name][k]!r}")
        return values.astype(np.int64)
