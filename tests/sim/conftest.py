"""Fixtures for the twin's tests: the public traces directory and the default catalogue.

Traces are read from ``GIGAWATT_TRACES_DIR`` (default ``<repo>/../shared/traces``); tests that
need a trace skip, naming the path, when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import traces_dir

from gigawatt.core.catalogue import Catalogue, default_catalogue


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
