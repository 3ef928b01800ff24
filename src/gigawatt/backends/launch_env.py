"""The environment a local job starts with.

Not the control plane's environment: a small base (``PATH``, ``HOME``, ``LANG``, ...,
``PYTHONUNBUFFERED=1``), then the job's own ``env``, then Gigawatt's variables, which the job
cannot override:

- ``GIGAWATT_JOB_ID``, ``GIGAWATT_ATTEMPT``, ``GIGAWATT_GPUS`` (GPUs of the whole attempt),
  ``GIGAWATT_GPU_TYPE``, ``GIGAWATT_NODE`` and ``GIGAWATT_GPU_INDICES`` (this rank's);
- torch.distributed style ``RANK``, ``WORLD_SIZE``, ``NODE_RANK``, ``LOCAL_RANK=0``,
  ``LOCAL_WORLD_SIZE=1``, ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT`` (one rank per node entry
  of the placement; every node is this machine);
- with real NVIDIA GPUs only: ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (so CUDA numbers GPUs as NVML
  does) and ``CUDA_VISIBLE_DEVICES`` = this rank's GPU indices. Indices beyond the machine's
  GPUs (a logical fleet larger than the machine) are folded modulo the GPU count. Without
  GPUs, ``CUDA_VISIBLE_DEVICES`` is left unset (the job's own value, if any, stays).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from gigawatt.backends.base import LaunchSpec
from gigawatt.core.errors import InvalidInput

PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def default_base_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The base environment: a few variables passed through from ``environ`` (default: this
    process's), the interpreter's directory first on ``PATH`` (so ``python`` is the control
    plane's Python), ``LANG=C.UTF-8`` unless set, and ``PYTHONUNBUFFERED=1``."""
    src = os.environ if environ is None else environ
    env = {k: src[k] for k in PASSED_THROUGH if k in src}
    bindir = os.path.dirname(sys.executable)
    path = env.get("PATH", DEFAULT_PATH)
    env["PATH"] = path if path.split(os.pathsep)[0] == bindir else f"{bindir}{os.pathsep}{path}"
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def check_env(env: Mapping[str, str]) -> None:
    """InvalidInput unless every name and value can go into a process environment."""
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise InvalidInput(f"bad variable name {key!r}", "env")
        if "\0" in value:
            raise InvalidInput(f"variable {key!r} holds a NUL character", "env")


def fold_indices(indices: Sequence[int], gpu_count: int) -> list[int]:
    """Physical GPUs for logical ``indices`` on a machine with ``gpu_count`` GPUs (modulo,
    order kept, duplicates dropped)."""
    out: list[int] = []
    for i in indices:
        j = i % gpu_count
        if j not in out:
            out.append(j)
    return out


def rank_env(
    spec: LaunchSpec,
    rank: int,
    world: int,
    master_port: int,
    base: Mapping[str, str],
    gpu_count: int,
) -> dict[str, str]:
    """The complete environment of ``rank`` (of ``world``) of the attempt ``spec``."""
    indices = spec.gpu_indices[rank] if rank < len(spec.gpu_indices) else ()
    node = spec.placement[rank][0] if rank < len(spec.placement) else ""
    env = dict(base)
    env.update(spec.env)
    env.update(
        GIGAWATT_JOB_ID=spec.job_id,
        GIGAWATT_ATTEMPT=str(spec.attempt),
        GIGAWATT_GPUS=str(sum(n for _, n in spec.placement)),
        GIGAWATT_GPU_TYPE=spec.gpu_type,
        GIGAWATT_NODE=node,
        GIGAWATT_GPU_INDICES=",".join(str(i) for i in indices),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        NODE_RANK=str(rank),
        LOCAL_RANK="0",
        LOCAL_WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(master_port),
    )
    if gpu_count > 0:
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in fold_indices(indices, gpu_count))
    return env
