"""Launch-spec factory shared by the backend tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gigawatt.backends.base import LaunchSpec


def make_spec(
    command: Sequence[str],
    *,
    job_id: str = "job-1",
    attempt: int = 1,
    env: Mapping[str, str] | None = None,
    nodes: int = 1,
    gpus_per_node: int = 1,
    gpu_type: str = "H100",
) -> LaunchSpec:
    """A launch spec placing the job on ``nodes`` nodes of ``gpus_per_node`` GPUs each."""
    placement = tuple((f"local/h100-{i:04d}", gpus_per_node) for i in range(nodes))
    indices = tuple(tuple(range(gpus_per_node)) for _ in range(nodes))
    return LaunchSpec(
        job_id=job_id,
        attempt=attempt,
        command=tuple(command),
        env=dict(env or {}),
        placement=placement,
        gpu_indices=indices,
        gpu_type=gpu_type,
    )
