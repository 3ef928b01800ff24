"""Per-rank control groups: limits, and a deterministic handle on every process of a rank.

Each rank of an attempt gets one cgroup named after the attempt (``<scope>/<job>.<attempt>.
<rank>``, where ``scope`` is derived from the backend's state directory, so two servers on one
machine never touch each other's). The runner moves the job into it before ``exec``, so the
cgroup holds exactly the job's processes, whatever they do (``setsid``, double fork, ``nohup``):

- limits where the host has the controllers: ``pids.max``, memory, CPU weight;
- :func:`kill_all` freezes the group (v1 ``freezer``), SIGKILLs every member and thaws it, so
  nothing can fork out of the way; v2 uses ``cgroup.kill``;
- :func:`members` lists the pids (used to forward SIGTERM and to find orphans).

cgroup v1 (one hierarchy per controller under ``/sys/fs/cgroup/<controller>``) and v2 (the
unified hierarchy at ``/sys/fs/cgroup``) are both supported; where neither is writable
:func:`layout` returns an empty tuple and every function here does nothing.

Stdlib only: the runner (started with ``python -I -S``) imports this file's functions by path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
#: v1 controllers used, in the order the runner joins them.
V1_CONTROLLERS = ("pids", "memory", "cpu", "freezer")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-rank limits (None: no limit). ``cpu_weight`` is relative (1024 = one share)."""

    pids_max: int | None = 4096
    memory_bytes: int | None = None
    cpu_weight: int | None = None


def scope_name(state_dir: Path) -> str:
    """``gigawatt-<hash of the state directory>``: the parent of this server's cgroups."""
    digest = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:12]
    return f"gigawatt-{digest}"


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def layout(root: Path = ROOT) -> tuple[Path, ...]:
    """The controller hierarchies usable here: v1 controller dirs, or the v2 root alone."""
    if (root / "cgroup.controllers").exists():
        return (root,) if _writable(root) else ()
    return tuple(root / c for c in V1_CONTROLLERS if _writable(root / c))


def rank_dirs(hierarchies: Sequence[Path], scope: str, name: str) -> tuple[Path, ...]:
    """The cgroup directories of one rank (one per hierarchy)."""
    return tuple(h / scope / name for h in hierarchies)


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
    except OSError:
        return False
    return True


def create(dirs: Sequence[Path], limits: Limits) -> tuple[Path, ...]:
    """Create the rank's cgroups and set the limits; the directories that exist afterwards."""
    made: list[Path] = []
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        made.append(d)
        kind = d.parent.parent.name
        v2 = (d / "cgroup.kill").exists() or (d.parent.parent / "cgroup.controllers").exists()
        if limits.pids_max is not None and (v2 or kind == "pids"):
            _write(d / "pids.max", str(limits.pids_max))
        if limits.memory_bytes is not None:
            if v2:
                _write(d / "memory.max", str(limits.memory_bytes))
            elif kind == "memory":
                _write(d / "memory.limit_in_bytes", str(limits.memory_bytes))
        if limits.cpu_weight is not None:
            if v2:
                weight = max(1, min(10000, limits.cpu_weight * 100 // 1024))
                _write(d / "cpu.weight", str(weight))
            elif kind == "cpu":
                _write(d / "cpu.shares", str(max(2, limits.cpu_weight)))
    return tuple(made)


def join(dirs: Iterable[str | Path], pid: int = 0) -> None:
    """Move ``pid`` (0: the caller) into every one of ``dirs``; errors are ignored."""
    for d in dirs:
        with contextlib.suppress(OSError):
            Path(d, "cgroup.procs").write_text(str(pid or os.getpid()))


def members(dirs: Sequence[str | Path]) -> set[int]:
    """The pids in the rank's cgroups (empty when there are none)."""
    found: set[int] = set()
    for d in dirs:
        try:
            text = Path(d, "cgroup.procs").read_text()
        except OSError:
            continue
        found.update(int(x) for x in text.split() if x.isdigit())
    return found


def _freezer(dirs: Sequence[str | Path]) -> Path | None:
    for d in dirs:
        path = Path(d, "freezer.state")
        if path.exists():
            return path
    return None


def kill_all(dirs: Sequence[str | Path], timeout_s: float = 5.0) -> bool:
    """SIGKILL every process in the rank's cgroups; True once they are empty.

    v2: ``cgroup.kill``. v1: freeze, kill, thaw (a frozen process cannot fork), repeated
    until empty or ``timeout_s``. Without a freezer, kill in rounds.
    """
    if not dirs:
        return True
    deadline = time.monotonic() + timeout_s
    freezer = _freezer(dirs)
    while True:
        pids = members(dirs)
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        killed_v2 = False
        for d in dirs:
            if Path(d, "cgroup.kill").exists():
                killed_v2 = _write(Path(d, "cgroup.kill"), "1") or killed_v2
        if not killed_v2:
            if freezer is not None:
                _write(freezer, "FROZEN")
                _wait_frozen(freezer, deadline)
            for pid in members(dirs) or pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if freezer is not None:
                _write(freezer, "THAWED")
        time.sleep(0.01)


def _wait_frozen(freezer: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if freezer.read_text().strip() == "FROZEN":
                return
        except OSError:
            return
        time.sleep(0.005)


def remove(dirs: Sequence[str | Path]) -> None:
    """Remove the rank's (empty) cgroups, and their scope when it is empty; errors are
    ignored."""
    for d in dirs:
        with contextlib.suppress(OSError):
            os.rmdir(d)
        with contextlib.suppress(OSError):
            os.rmdir(Path(d).parent)


def signal_members(dirs: Sequence[str | Path], sig: int, spare: Iterable[int] = ()) -> int:
    """Send ``sig`` to every process in the cgroups except ``spare``; how many were sent."""
    skip = set(spare)
    sent = 0
    for pid in members(dirs) - skip:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
            sent += 1
    return sent
