"""Small parsers and writers shared by the offline commands (``value``, ``simulate``).

Each raises :class:`~gigawatt.core.errors.InvalidInput` naming the field, so the command prints
one line on stderr and exits 2.
"""

from __future__ import annotations

from pathlib import Path

from gigawatt.core.errors import InvalidInput


def parse_choice(text: str, field: str, allowed: tuple[str, ...]) -> str:
    """``text`` normalised (lower case, ``-`` as ``_``) if it is one of ``allowed``."""
    value = text.strip().lower().replace("-", "_")
    if value not in allowed:
        raise InvalidInput(f"got {text!r}; allowed: {' or '.join(allowed)}", field)
    return value


def write_output(path: str, data: str | bytes, field: str) -> None:
    """Write a report or plot file; an unwritable path is a user error, not a traceback."""
    try:
        if isinstance(data, bytes):
            Path(path).write_bytes(data)
        else:
            Path(path).write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.__class__.__name__}", field) from None
