"""Running ``gigawatt serve`` on the local or the Ray backend for the end-to-end tests.

The server process and HTTP client come from ``tests/e2e/e2e_support.py`` (imported, not
copied); the backend is chosen with ``GIGAWATT_BACKEND`` and the cluster with ``RAY_ADDRESS``,
which the server inherits.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))

from e2e_support import ADMIN_KEY, PY, Client, Server, assert_billed_as_allocated, write_fleet

__all__ = ["PY", "Client", "Cloud", "assert_billed_as_allocated", "cloud_fixture", "money"]

Cloud = Callable[..., tuple[Server, Client]]


def reap_ray_leftovers() -> None:
    """Remove every Gigawatt actor and placement group left on the test cluster (all
    namespaces): a failed test must not hold GPUs for the next one."""
    import ray
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import (
        PlacementGroup,
        placement_group_table,
        remove_placement_group,
    )

    for entry in ray.util.list_named_actors(all_namespaces=True):
        if str(entry["name"]).startswith("gw:"):
            with contextlib.suppress(ValueError, ray.exceptions.RayError):
                ray.kill(ray.get_actor(entry["name"], namespace=entry["namespace"]))
    for pg_id, entry in placement_group_table().items():
        if str(entry.get("name", "")).startswith("gw:") and entry.get("state") != "REMOVED":
            group = PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id)))
            with contextlib.suppress(ValueError, ray.exceptions.RayError):
                remove_placement_group(group)


def cloud_fixture(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    """Start servers on the backend named by ``request.param`` (SQLite database)."""
    backend = str(request.param)
    monkeypatch.setenv("GIGAWATT_BACKEND", backend)
    if backend == "ray":
        cluster = request.getfixturevalue("ray_cluster")
        request.getfixturevalue("ray_backend")  # this process is a driver (for the reaper)
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    servers: list[Server] = []

    def start(
        nodes: int = 2, per_node: int = 8, power_mw: float = 1.0, fleet: Path | None = None
    ) -> tuple[Server, Client]:
        """A server on a one-site fleet file of ``nodes`` nodes, or on the file ``fleet``."""
        if fleet is None:
            fleet = write_fleet(tmp_path / "fleet.yaml", nodes, per_node, power_mw)
        server = Server(f"sqlite:///{tmp_path / 'gigawatt.db'}", tmp_path, fleet)
        servers.append(server)
        server.start()
        return server, Client(server.url, ADMIN_KEY)

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        if backend == "ray":
            reap_ray_leftovers()
    for server in servers:
        assert "Traceback" not in server.logs(), server.logs()[-5000:]


def money(value: Any) -> Decimal:
    """A JSON money value as a Decimal."""
    return Decimal(str(value))
