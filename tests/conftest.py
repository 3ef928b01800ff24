"""Shared fixtures: a database URL for each supported database, isolated per test.

``db_url`` is parametrised over SQLite (a file in the test's tmp dir) and PostgreSQL (a fresh
schema per test, dropped afterwards, on ``GIGAWATT_TEST_POSTGRES_URL`` or the local server).
PostgreSQL tests are skipped when the server is unreachable, except in CI (``CI`` set), where
an unreachable server fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL server the suite uses."""
    return os.environ.get("GIGAWATT_TEST_POSTGRES_URL") or DEFAULT_PG_URL


@cache
def _postgres_error() -> str | None:
    """None when the server answers, else why not (checked once per session)."""
    try:
        engine = create_engine(postgres_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Skip (or, in CI, fail) the current test when PostgreSQL is unreachable."""
    error = _postgres_error()
    if error is None:
        return
    message = f"PostgreSQL at {postgres_url()} unreachable: {error}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options`` setting the search path to ``schema``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections live in a fresh, empty schema (dropped after the test)."""
    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(postgres_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(postgres_url(), schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (run the test once per database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gigawatt.db'}"
        return
    yield request.getfixturevalue("postgres_schema_url")


#: Test folders whose session fixtures are costly (a Ray cluster, a model built once): with
#: pytest-xdist (``make test`` runs two workers) each folder's tests share one worker.
_SHARED_SESSION = {"ray": ("backends", "ray"), "inference": ("inference",)}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each costly-fixture folder's tests in one xdist group (``--dist loadgroup``);
    nothing to do when pytest-xdist is not loaded (``-p no:xdist``)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts
        for group, prefix in _SHARED_SESSION.items():
            if parts[: len(prefix)] == prefix:
                item.add_marker(pytest.mark.xdist_group(group))
