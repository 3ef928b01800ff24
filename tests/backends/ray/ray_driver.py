"""A short-lived control plane: ``python ray_driver.py '<json>'`` connects a RayBackend, starts
the attempts described in the JSON, prints their handles as JSON and exits without stopping
them, as a control plane killed mid-job would leave them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gigawatt.backends.base import LaunchSpec
from gigawatt.backends.ray import RayBackend


def main() -> None:
    """Start every job of the request and print ``[handle data, ...]``."""
    req = json.loads(sys.argv[1])
    backend = RayBackend(req["address"], Path(req["state_dir"]), namespace=req["namespace"])
    handles = []
    for job in req["jobs"]:
        spec = LaunchSpec(
            job_id=job["job_id"],
            attempt=job["attempt"],
            command=tuple(job["command"]),
            env={},
            placement=tuple((n, g) for n, g in job["placement"]),
            gpu_indices=tuple(tuple(range(g)) for _, g in job["placement"]),
            gpu_type="H100",
        )
        handles.append(dict(backend.start(spec).data))
    print(json.dumps(handles), flush=True)
    backend.close()


if __name__ == "__main__":
    main()
