"""Where the local backend keeps an attempt's files, and how logs are read back (bounded).

``<state_dir>/jobs/<job_id>/attempt-<n>/`` holds, per rank ``r``:

- ``rank-<r>.log``: the rank's stdout and stderr, merged;
- ``rank-<r>.exit``: its exit code and end time, written by the runner when it ends;
- ``rank-<r>.claim``: the runner's identity and start time, linked into place before it
  starts the job, or a fence written by a restarted control plane (the rank must not start);

the work directory ``work/`` (a sandboxed job's writable working directory and ``HOME``),

and the markers ``killed`` (the backend sent SIGKILL) and ``failfast`` (a rank failed, the
others were asked to stop; holds the time of that request).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gigawatt.core.errors import InvalidInput

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RANK_LOG = re.compile(r"^rank-(\d+)\.log$")
TRUNCATED = "[... earlier output truncated ...]\n"


def valid_job_id(job_id: str) -> bool:
    """True when ``job_id`` is safe as a single path component."""
    return bool(_JOB_ID.match(job_id))


@dataclass(frozen=True, slots=True)
class AttemptDir:
    """The files of one attempt."""

    root: Path

    @classmethod
    def of(cls, state_dir: Path, job_id: str, attempt: int) -> AttemptDir:
        """The directory of ``job_id``'s ``attempt``; InvalidInput for an unsafe id."""
        if not valid_job_id(job_id):
            raise InvalidInput(f"not usable as a directory name: {job_id!r}", "job_id")
        if attempt < 0:
            raise InvalidInput(f"must be >= 0, got {attempt}", "attempt")
        return cls(state_dir / "jobs" / job_id / f"attempt-{attempt}")

    def log(self, rank: int) -> Path:
        """The merged stdout/stderr of ``rank``."""
        return self.root / f"rank-{rank}.log"

    def exit(self, rank: int) -> Path:
        """The exit-code file of ``rank``."""
        return self.root / f"rank-{rank}.exit"

    def claim(self, rank: int) -> Path:
        """The claim file of ``rank`` (see :mod:`gigawatt.backends.runner`)."""
        return self.root / f"rank-{rank}.claim"

    @property
    def work(self) -> Path:
        """The attempt's work directory (sandboxed jobs)."""
        return self.root / "work"

    @property
    def killed(self) -> Path:
        """Marker: the backend sent SIGKILL to this attempt."""
        return self.root / "killed"

    @property
    def failfast(self) -> Path:
        """Marker: a rank failed and the others were sent SIGTERM at the time it holds."""
        return self.root / "failfast"

    def prepare(self) -> None:
        """Create the directory and clear stale exit files and markers. Logs are kept, and so
        are claims, except those of runners that finished (a claim may be a fence that
        forbids this attempt to start, or a runner of it that still runs)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for path in self.root.glob("rank-*.claim"):
            if path.with_suffix(".exit").exists():
                path.unlink(missing_ok=True)
        for path in self.root.iterdir():
            if path.suffix == ".exit" or path.name in ("killed", "failfast"):
                path.unlink(missing_ok=True)

    def rank_logs(self) -> list[tuple[int, Path]]:
        """``(rank, log path)`` of every rank log present, by rank."""
        try:
            names = [p.name for p in self.root.iterdir()]
        except OSError:
            return []
        ranks = sorted(int(m.group(1)) for n in names if (m := _RANK_LOG.match(n)))
        return [(r, self.log(r)) for r in ranks]


def read_tail(path: Path, limit: int) -> str:
    """At most the last ``limit`` bytes of ``path`` as text ('' when missing).

    When cut, the partial first line is dropped and a truncation notice leads (counted
    within ``limit``).
    """
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            if size <= limit:
                f.seek(0)
                return f.read().decode("utf-8", errors="replace")
            budget = max(0, limit - len(TRUNCATED))
            f.seek(size - budget)
            data = f.read(budget)
    except OSError:
        return ""
    cut = data.find(b"\n")
    if 0 <= cut < len(data) - 1:
        data = data[cut + 1 :]
    return TRUNCATED + data.decode("utf-8", errors="replace")


def read_logs(adir: AttemptDir, limit: int) -> str:
    """The attempt's output, at most ``limit`` bytes: one rank's log as is, several ranks each
    under a ``==> rank N <==`` header with an equal share of the budget."""
    logs = adir.rank_logs()
    if not logs:
        return ""
    if len(logs) == 1:
        return read_tail(logs[0][1], limit)
    parts = []
    for rank, path in logs:
        header = f"==> rank {rank} <==\n"
        share = max(0, limit // len(logs) - len(header))
        body = read_tail(path, share)
        if body and not body.endswith("\n"):
            body += "\n"
        parts.append(header + body)
    return "".join(parts)
