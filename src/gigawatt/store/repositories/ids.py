"""Opaque identifiers: a type prefix and random hex (``job_3f2a…``)."""

from __future__ import annotations

import re
import secrets


def new_id(prefix: str) -> str:
    """``{prefix}_{24 hex chars}`` (96 random bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def looks_like_id(value: object) -> bool:
    """Whether ``value`` could be an id at all (ASCII word characters, at most 64).

    Repositories answer "not found" for anything else without querying: a NUL byte or a lone
    surrogate from a URL must never reach the database driver.
    """
    return isinstance(value, str) and _ID.fullmatch(value) is not None
