"""Fixtures for the twin's tests: the public traces directory and the default catalogue.

Traces are read from ``GIGAWATT_TRACES_DIR`` (default ``<repo>/../shared/traces``); tests that
need a trace skip, naming the path, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gigawatt.core.catalogue import Catalogue, default_catalogue

REPO = Path(__file__).resolve().parents[2]


def traces_dir() -> Path:
    """Where the public traces are."""
    return Path(os.environ.get("GIGAWATT_TRACES_DIR") or REPO.parent / "shared" / "traces")


@pytest.fixture
def traces() -> Path:
    """The traces directory (skips when it is missing)."""
    d = traces_dir()
    if not (d / "philly_pollux.csv").is_file():
        pytest.skip(f"public traces not found in {d} (set GIGAWATT_TRACES_DIR)")
    return d


@pytest.fixture
def catalogue() -> Catalogue:
    """The packaged GPU catalogue."""
    return default_catalogue()
