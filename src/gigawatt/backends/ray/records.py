"""What the Ray backend keeps on the control plane's disk, next to the local backend's layout.

In ``<state_dir>/jobs/<job_id>/attempt-<n>/`` (:class:`~gigawatt.backends.layout.AttemptDir`):

- ``ray-attempt.json``: namespace, placement group and actor names, nodes (for ``logs``);
- ``ray-status.json``: the attempt's final status once known (then Ray holds nothing of it);
- ``rank-<r>.log``: the last copy of each rank's output fetched from its node;
- markers ``killed`` (the backend killed it), ``failfast`` and ``gone-since`` (times).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gigawatt.backends.base import ExitStatus, Handle
from gigawatt.backends.layout import AttemptDir

META = "ray-attempt.json"
STATUS = "ray-status.json"
GONE_SINCE = "gone-since"


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """Where an attempt runs on Ray: recorded in ``Handle.data`` and in ``ray-attempt.json``."""

    dir: str
    namespace: str
    group: str
    actors: tuple[str, ...]
    nodes: tuple[str, ...]

    @property
    def adir(self) -> AttemptDir:
        """The attempt's directory on the control plane."""
        return AttemptDir(Path(self.dir))

    def to_json(self) -> dict[str, object]:
        """A JSON-safe dict."""
        out = asdict(self)
        out["actors"] = list(self.actors)
        out["nodes"] = list(self.nodes)
        return out

    @classmethod
    def from_json(cls, data: object) -> AttemptInfo | None:
        """Parse what :meth:`to_json` wrote; None when malformed."""
        if not isinstance(data, dict):
            return None
        try:
            actors, nodes = data["actors"], data["nodes"]
            if not isinstance(actors, list) or not isinstance(nodes, list) or not actors:
                return None
            info = cls(
                dir=str(data["dir"]),
                namespace=str(data["namespace"]),
                group=str(data["group"]),
                actors=tuple(str(a) for a in actors),
                nodes=tuple(str(n) for n in nodes),
            )
        except (KeyError, TypeError):
            return None
        return info if len(info.actors) == len(info.nodes) else None

    @classmethod
    def of_handle(cls, handle: Handle) -> AttemptInfo | None:
        """The info recorded in a handle made by the Ray backend, else None."""
        if handle.data.get("backend") != "ray":
            return None
        return cls.from_json(dict(handle.data))


def write_json(path: Path, data: object) -> None:
    """Write ``data`` to ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> object | None:
    """The JSON at ``path``, None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def write_status(adir: AttemptDir, status: ExitStatus) -> None:
    """Record the attempt's final status."""
    write_json(adir.root / STATUS, asdict(status))


def read_status(adir: AttemptDir) -> ExitStatus | None:
    """The final status recorded for the attempt, None while it is not over."""
    data = read_json(adir.root / STATUS)
    if not isinstance(data, dict):
        return None
    try:
        status = ExitStatus(int(data["exit_code"]), bool(data["signalled"]), str(data["reason"]))
        ended = data.get("ended_at")
    except (KeyError, TypeError, ValueError):
        return None
    return replace(status, ended_at=float(ended)) if isinstance(ended, int | float) else status


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a rank's log copy)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", errors="replace")
    os.replace(tmp, path)


def read_time(path: Path) -> float | None:
    """The time stored in a marker file, None when absent."""
    try:
        return float(path.read_text())
    except (OSError, ValueError):
        return None


def mark_time(path: Path, now: float) -> float:
    """The time in the marker at ``path``, writing ``now`` there first if there is none."""
    since = read_time(path)
    if since is None:
        with contextlib.suppress(OSError):
            path.write_text(repr(now))
        return now
    return since


def reset(adir: AttemptDir) -> None:
    """Prepare the directory for a (re)start: clear markers and the final status."""
    adir.prepare()
    for name in (STATUS, GONE_SINCE, META):
        (adir.root / name).unlink(missing_ok=True)
