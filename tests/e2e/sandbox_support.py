"""What e2e tests read from the host about a server's jobs: processes, runner records."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from gigawatt.backends import sandbox_cgroup as cgroup


def argv_of(pid: int) -> list[str]:
    """The command line of ``pid`` ([] when gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def marker_pids(marker: str, argv0: str | None = None) -> list[int]:
    """Host pids whose command line holds ``marker``; with ``argv0``, only the job's own
    processes started as ``argv0`` (not its runner, nor the sandbox around it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        argv = argv_of(int(entry.name))
        if not argv or not any(marker in a for a in argv):
            continue
        if argv0 is None or (argv[0] == argv0 and not any(a.endswith("runner.py") for a in argv)):
            found.append(int(entry.name))
    return found


def wait_pids(marker: str, argv0: str | None = None, timeout: float = 20.0) -> list[int]:
    """Wait until some process holds ``marker``; their pids."""
    deadline = time.monotonic() + timeout
    while not (pids := marker_pids(marker, argv0)):
        assert time.monotonic() < deadline, f"no process with {marker!r}"
        time.sleep(0.05)
    return pids


def attempt_dir(state: Path, job_id: str, attempt: int) -> Path:
    """Where the local backend keeps ``job_id``'s ``attempt``."""
    return state / "jobs" / job_id / f"attempt-{attempt}"


@dataclass(frozen=True)
class RankRecord:
    """What a rank's runner recorded: when it started the job, when and how it ended."""

    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    fenced: bool


def rank_record(state: Path, job_id: str, attempt: int, rank: int = 0) -> RankRecord:
    """The runner's records of one rank (None fields when not written)."""
    adir = attempt_dir(state, job_id, attempt)
    try:
        claim = json.loads((adir / f"rank-{rank}.claim").read_text())
    except (OSError, ValueError):
        claim = {}
    try:
        fields = (adir / f"rank-{rank}.exit").read_text().split()
        code, end = int(fields[0]), float(fields[1])
    except (OSError, ValueError, IndexError):
        code, end = None, None
    return RankRecord(claim.get("started_at"), end, code, bool(claim.get("fenced")))


def leftover_processes(state: Path) -> dict[str, set[int]]:
    """Processes still in any rank cgroup of this state directory's server, by cgroup."""
    scope = cgroup.scope_name(state)
    out: dict[str, set[int]] = {}
    for hierarchy in cgroup.layout():
        base = hierarchy / scope
        if not base.is_dir():
            continue
        for d in base.iterdir():
            if d.is_dir() and (pids := cgroup.members([d])):
                out[str(d)] = pids
    return out


def runner_pids(state: Path) -> list[int]:
    """Runner processes of this state directory's server that are still alive."""
    return [
        pid
        for pid in marker_pids(str(state / "jobs"))
        if any(a.endswith("runner.py") for a in argv_of(pid))
    ]


def sweep_state(state: Path) -> list[str]:
    """Kill whatever still runs for the server of ``state`` (test teardown): the backend's own
    sweep, with no attempt kept."""
    from gigawatt.backends.local import LocalBackend

    if not state.is_dir():
        return []
    return LocalBackend(state, gpus=[]).sweep(set())
