"""Helpers shared by the Ray backend tests: launch specs, waiting, the test namespace."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence

from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec

NAMESPACE = "gigawatt-test"


def ray_spec(
    command: Sequence[str],
    nodes: Sequence[str],
    *,
    gpus_per_node: int = 1,
    job_id: str | None = None,
    attempt: int = 1,
    env: Mapping[str, str] | None = None,
    gpu_type: str = "H100",
) -> LaunchSpec:
    """A launch spec placing ``gpus_per_node`` GPUs on each of ``nodes`` (Ray node ids)."""
    return LaunchSpec(
        job_id=job_id or f"job-{uuid.uuid4().hex[:10]}",
        attempt=attempt,
        command=tuple(command),
        env=dict(env or {}),
        placement=tuple((node, gpus_per_node) for node in nodes),
        gpu_indices=tuple(tuple(range(gpus_per_node)) for _ in nodes),
        gpu_type=gpu_type,
    )


def node_ids() -> dict[str, str]:
    """``gigawatt.dev/node`` label -> Ray node id, for the alive nodes (needs a connection)."""
    from gigawatt.backends.ray.discovery import cluster_nodes
    from gigawatt.backends.ray.localcluster import NODE_LABEL

    return {
        n["Labels"][NODE_LABEL]: n["NodeID"]
        for n in cluster_nodes()
        if n.get("Alive") and NODE_LABEL in (n.get("Labels") or {})
    }


def wait_status(backend: Backend, handle: Handle, timeout_s: float = 60.0) -> ExitStatus:
    """Poll until the attempt is over; fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = backend.poll(handle)
        if status is not None:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.job_id} still running after {timeout_s} s")
        time.sleep(0.2)


def wait_for(predicate: object, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` is true."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
