"""Fixtures for console tests: a real ``gigawatt serve`` process and headless Chromium.

The server helpers are the end-to-end suite's (tests/e2e/e2e_support.py). Chromium is Debian's
``/usr/bin/chromium`` driven by Playwright's Python package (no browser download); the tests
are skipped when either is missing, except in CI, where that fails them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from e2e_support import ADMIN_KEY, Client, Server, write_fleet
from inference_support import FakeUpstream, ServerThread

CHROMIUM = os.environ.get("GIGAWATT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _need_browser() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing.append(f"{CHROMIUM} (apt-get install chromium, or `make system-deps`)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def served(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, Client]]:
    """One server (2 nodes x 8 H100) on ``db_url`` and an admin client.

    Jobs run unsandboxed (``GIGAWATT_ISOLATION=none``): these tests are about the console, and
    the sandbox has its own tests (tests/backends) and needs a host that allows it.
    """
    monkeypatch.setenv("GIGAWATT_ISOLATION", "none")
    fleet = write_fleet(tmp_path / "fleet.yaml", nodes=2, per_node=8, power_mw=0.05)
    server = Server(db_url, tmp_path, fleet)
    server.start()
    try:
        yield server, Client(server.url, ADMIN_KEY)
    finally:
        server.stop()
    assert "Traceback" not in server.logs(), server.logs()[-5000:]


@pytest.fixture
def upstream() -> Iterator[str]:
    """The inference tests' fake OpenAI-compatible upstream, in a thread: its ``/v1`` URL."""
    with ServerThread(FakeUpstream().app) as server:
        yield f"{server.url}/v1"


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[[Any, str], None]:
    """``shot(page, name)`` saves docs/console/<name>.png when GIGAWATT_SCREENSHOTS=1 (once,
    from the SQLite run)."""
    out = Path(__file__).resolve().parents[2] / "docs" / "console"
    param = getattr(request.node, "callspec", None)
    enabled = os.environ.get("GIGAWATT_SCREENSHOTS") == "1" and (
        param is None or param.params.get("db_url") == "sqlite"
    )

    def shot(page: Any, name: str) -> None:
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / f"{name}.png"), full_page=False)

    return shot
