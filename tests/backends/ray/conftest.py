"""A real local Ray cluster for the Ray backend tests, started once per session.

Two nodes (``head`` and ``w1``, site ``west``), 8 logical H100 each, each ``ray start`` in
its own session with its own temp dir and ports (see
:mod:`gigawatt.backends.ray.localcluster`): the teardown stops exactly these processes and no
other Ray on the machine. The test process connects as a Ray driver through ``ray_backend``.
The nodes declare themselves as nodes ``e2e/h100-0000`` and ``e2e/h100-0001`` of the fleet
file the end-to-end tests write (``tests/e2e/e2e_support.write_fleet``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ray_specs import NAMESPACE, node_ids

from gigawatt.backends.ray.localcluster import LocalRayCluster

if TYPE_CHECKING:
    from gigawatt.backends.ray import RayBackend


def fleet_node_id(index: int) -> str:
    """The id of node ``index`` in the end-to-end tests' fleet file."""
    return f"e2e/h100-{index:04d}"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    """The session's cluster: ``head`` and ``w1``."""
    pytest.importorskip("ray")
    from gigawatt.backends.ray.connect import disconnect

    cluster = LocalRayCluster(num_cpus=1)
    try:
        cluster.add_node("head", head=True, fleet_node=fleet_node_id(0))
        cluster.add_node("w1", site="west", fleet_node=fleet_node_id(1))
        yield cluster
    finally:
        disconnect()
        cluster.shutdown()


@pytest.fixture(scope="session")
def ray_backend(
    ray_cluster: LocalRayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayBackend]:
    """A backend connected to the session's cluster (this process becomes a Ray driver)."""
    from gigawatt.backends.ray import RayBackend

    backend = RayBackend(
        ray_cluster.address,
        tmp_path_factory.mktemp("ray-state"),
        namespace=NAMESPACE,
        rank_grace_s=2.0,
        gone_settle_s=10.0,
    )
    yield backend
    backend.close()


@pytest.fixture
def nodes(ray_backend: RayBackend) -> dict[str, str]:
    """Node name (``head``, ``w1``, ...) -> Ray node id."""
    return node_ids()


@pytest.fixture
def state_dir(ray_backend: RayBackend) -> Path:
    """Where the session backend keeps logs and statuses."""
    return ray_backend.state_dir
