"""Fixtures for end-to-end tests: real server processes (marker ``e2e``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import ADMIN_KEY, Client, Server, write_fleet


@pytest.fixture
def start_server(db_url: str, tmp_path: Path) -> Iterator[Callable[..., tuple[Server, Client]]]:
    servers: list[Server] = []

    def start(nodes: int = 2, per_node: int = 8, power_mw: float = 1.0) -> tuple[Server, Client]:
        fleet = write_fleet(tmp_path / "fleet.yaml", nodes, per_node, power_mw)
        server = Server(db_url, tmp_path, fleet)
        servers.append(server)
        server.start()
        return server, Client(server.url, ADMIN_KEY)

    yield start
    for server in servers:
        server.stop()
        assert "Traceback" not in server.logs(), server.logs()[-5000:]
