"""Connecting the control plane to a Ray cluster (as a Ray driver) and the backend's errors."""

from __future__ import annotations

import logging

import ray

from gigawatt.core.errors import GigawattError


class RayBackendError(GigawattError):
    """The Ray cluster cannot do what was asked (unreachable, no room on a node, ...)."""

    code = "ray_error"
    http_status = 503


def connect(address: str, namespace: str) -> bool:
    """Connect this process to the cluster at ``address`` (``auto`` or ``HOST:PORT``) in
    ``namespace``; True when this call made the connection (the caller then owns it).

    A process already connected is reused when its namespace matches."""
    if ray.is_initialized():
        current = ray.get_runtime_context().namespace
        if current != namespace:
            raise RayBackendError(
                f"this process is connected to Ray in namespace {current!r}, not {namespace!r}"
            )
        return False
    try:
        ray.init(
            address=address,
            namespace=namespace,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayBackendError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    return True


def disconnect() -> None:
    """Leave the cluster; detached actors and placement groups keep running."""
    if ray.is_initialized():
        ray.shutdown()
