"""Fixtures for API tests (see :mod:`api_support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import ADMIN_KEY, T0, Api, api_fleet
from fastapi.testclient import TestClient

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import open_platform
from gigawatt.services.settings import Settings


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    clock = ManualClock(T0)
    backend = FakeBackend(clock)
    settings = Settings(
        database_url=db_url, grace_s=1.0, admin_key=ADMIN_KEY, run_control_loop=False
    )
    platform = open_platform(settings, backend, fleet=api_fleet(), clock=clock)
    app = create_app(platform)
    with TestClient(app) as client:
        yield Api(client, platform, clock, backend, ControlLoop(platform, "api-test"))
    platform.engine.dispose()
