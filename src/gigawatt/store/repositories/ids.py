"""Opaque identifiers: a type prefix and random hex (``job_3f2a…``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """``{prefix}_{24 hex chars}`` (96 random bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"
