"""Run the cloud's jobs on a Ray cluster (the ``ray`` extra).

``RayBackend(address, state_dir, namespace="gigawatt")`` implements the Backend interface:
an attempt is a detached placement group pinned to the nodes Gigawatt's scheduler chose, each
rank a detached actor that runs the command; ``discover_nodes`` turns the cluster's GPU
nodes into the fleet. See ``docs/ray.md``.
"""

from gigawatt.backends.ray.backend import RayBackend
from gigawatt.backends.ray.connect import RayBackendError

__all__ = ["RayBackend", "RayBackendError"]
