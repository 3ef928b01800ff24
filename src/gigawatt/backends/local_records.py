"""What the local backend reads back from disk and handles: rank identities, claims, times.

Pure helpers over :class:`~gigawatt.backends.layout.AttemptDir` files and ``Handle.data``;
the :class:`~gigawatt.backends.local.LocalBackend` acts on what they return.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from gigawatt.backends import procs, runner
from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.backends.layout import AttemptDir

_ATTEMPT = re.compile(r"^attempt-(\d+)$")


def exit_status(code: int, ended_at: float | None = None) -> ExitStatus:
    """The status of a process that ended with ``code`` (``-N``: killed by signal N)."""
    if code == 0:
        return ExitStatus(0, ended_at=ended_at)
    if code < 0:
        reason = f"signal {procs.signal_name(-code)}"
        return ExitStatus(code, signalled=True, reason=reason, ended_at=ended_at)
    return ExitStatus(code, reason=f"exit code {code}", ended_at=ended_at)


def parse_handle(handle: Handle) -> tuple[AttemptDir, list[procs.ProcessId]] | None:
    """The attempt directory and rank identities recorded in ``handle``, None if malformed."""
    data = handle.data
    try:
        root = data["dir"]
        raw_ranks = data["ranks"]
        boot = data.get("boot_id")
        if not isinstance(root, str) or not isinstance(raw_ranks, list) or not raw_ranks:
            return None
        ranks = []
        for r in raw_ranks:
            st = r.get("start_time")
            ranks.append(
                procs.ProcessId(
                    int(r["pid"]), int(st) if st is not None else None, str(boot) if boot else None
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if any(p.pid <= 1 for p in ranks):
        return None
    return AttemptDir(Path(root)), ranks


def cgroups_of(handle: Handle, rank: int) -> list[str]:
    """The cgroup directories recorded for ``rank`` (empty when none)."""
    raw = handle.data.get("cgroups")
    if not isinstance(raw, list) or rank >= len(raw) or not isinstance(raw[rank], list):
        return []
    return [str(d) for d in raw[rank] if isinstance(d, str) and d.startswith("/sys/fs/cgroup")]


def read_claim(path: Path) -> dict[str, object]:
    """The claim at ``path`` ({} when absent or unreadable)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def rank_times(adir: AttemptDir, ranks: int) -> tuple[float | None, float | None]:
    """``(first start, last end)`` wall times the runners recorded (None when unknown)."""
    starts, ends = [], []
    for r in range(ranks):
        start = read_claim(adir.claim(r)).get("started_at")
        if isinstance(start, int | float):
            starts.append(float(start))
        found = runner.read_exit(adir.exit(r))
        if found is not None and found[1] is not None:
            ends.append(found[1])
    return (min(starts) if starts else None), (max(ends) if len(ends) == ranks else None)


def claimed_handle(
    job_id: str, attempt: int, adir: AttemptDir, claims: Sequence[dict[str, object]],
    cgroups: Sequence[Sequence[str]],
) -> Handle:  # fmt: skip
    """The handle of an attempt found through its runners' claims (every one claimed)."""
    boot = next((c.get("boot_id") for c in claims if c.get("boot_id")), None)
    data: dict[str, object] = {
        "backend": "local",
        "v": 2,
        "dir": str(adir.root),
        "boot_id": boot,
        "ranks": [{"pid": c.get("pid"), "start_time": c.get("start_time")} for c in claims],
        "logs": [str(adir.log(r)) for r in range(len(claims))],
        "cgroups": [list(c) for c in cgroups],
        "gpus": [],
        "energy_start_mj": None,
        "found": True,
    }
    return Handle(job_id, attempt, data)


def attempt_ids(state_dir: Path) -> Iterator[tuple[str, int, AttemptDir]]:
    """``(job_id, attempt, dir)`` of every attempt directory under ``state_dir``."""
    jobs = state_dir / "jobs"
    try:
        job_dirs = sorted(p for p in jobs.iterdir() if p.is_dir())
    except OSError:
        return
    for job_dir in job_dirs:
        try:
            names = sorted(p.name for p in job_dir.iterdir())
        except OSError:
            continue
        for name in names:
            m = _ATTEMPT.match(name)
            if m:
                yield job_dir.name, int(m.group(1)), AttemptDir(job_dir / name)


def combine(statuses: Sequence[ExitStatus]) -> ExitStatus:
    """One status for the attempt: success if every rank succeeded, else the first rank that
    failed on its own (before ranks stopped by signal), its reason prefixed with the rank."""
    failed = [(r, s) for r, s in enumerate(statuses) if not s.succeeded]
    if not failed:
        return ExitStatus(0)
    own = [(r, s) for r, s in failed if not s.signalled]
    rank, status = (own or failed)[0]
    if len(statuses) == 1:
        return ExitStatus(status.exit_code, status.signalled, status.reason)
    return ExitStatus(status.exit_code, status.signalled, f"rank {rank}: {status.reason}")
