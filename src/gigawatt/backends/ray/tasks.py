"""Fan work out as Ray tasks: for the simulator's sweeps (``gigawatt simulate --sweep``) when a
cluster address is given. One task per item, results in item order.

``fn`` must be picklable (a module-level function of a package installed on every node, or a
closure cloudpickle can ship) and so must items and results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import ray

from gigawatt.backends.ray.connect import RayBackendError

T = TypeVar("T")
R = TypeVar("R")


def _apply(fn: Callable[[T], R], item: T) -> R:
    """The task body (importable on every node where gigawatt is installed)."""
    return fn(item)


def map_on_ray(
    fn: Callable[[T], R],
    items: Sequence[T],
    address: str,
    *,
    num_cpus: float = 1.0,
    on_done: Callable[[int], None] | None = None,
) -> list[R]:
    """``[fn(item) for item in items]``, each call a Ray task on the cluster at ``address``
    (reusing this process's connection if it has one); ``on_done(n)`` is called as the n-th
    task finishes (a progress bar). A task's exception is raised here."""
    owned = not ray.is_initialized()
    if owned:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayBackendError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    try:
        task: Any = ray.remote(num_cpus=num_cpus)(_apply)
        shipped = ray.put(fn)
        refs = [task.remote(shipped, item) for item in items]
        pending = list(refs)
        done = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done += len(ready)
            if on_done is not None:
                on_done(done)
        return [ray.get(ref) for ref in refs]
    finally:
        if owned:
            ray.shutdown()
