"""Fixtures for service tests: a platform on a real database with FakeBackend + ManualClock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.fleet import FleetSpec, NodeGroup, Site
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform, open_platform
from gigawatt.services.settings import Settings

T0 = 1_794_268_800.0  # 2026-11-10 00:00 UTC


def small_fleet(nodes: int = 2, per_node: int = 8, power_mw: float = 1.0) -> FleetSpec:
    """One site ``s1`` with ``nodes`` x ``per_node`` H100."""
    group = NodeGroup(name="h100", count=nodes, gpu_type="H100", gpus_per_node=per_node)
    return FleetSpec(sites=(Site(name="s1", it_power_mw=power_mw, node_groups=(group,)),))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def backend(clock: ManualClock) -> FakeBackend:
    return FakeBackend(clock)


@pytest.fixture
def make_platform(
    db_url: str, clock: ManualClock, backend: FakeBackend
) -> Iterator[Callable[..., Platform]]:
    made: list[Platform] = []

    def make(
        fleet: FleetSpec | None = None, backend_: FakeBackend | None = None, **settings: Any
    ) -> Platform:
        options: dict[str, Any] = {"database_url": db_url, "grace_s": 1.0, "admin_key": "adm"}
        options.update(settings)
        platform = open_platform(
            Settings(**options),
            backend_ or backend,
            fleet=fleet or small_fleet(),
            clock=clock,
        )
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.engine.dispose()


@pytest.fixture
def platform(make_platform: Callable[..., Platform]) -> Platform:
    return make_platform()


@pytest.fixture
def loop(platform: Platform) -> ControlLoop:
    return ControlLoop(platform, holder="test-loop")
