"""Process helpers for the local backend: identity from ``/proc``, liveness, signals, reaping.

A process is identified by ``(pid, start_time, boot_id)``: the start time (clock ticks since
boot, field 22 of ``/proc/<pid>/stat``) guards against pid reuse, the boot id against a reboot.
Without ``/proc`` (not Linux) the start time is None and only the pid is checked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessId:
    """Who a process is: pid plus what makes the pid unambiguous."""

    pid: int
    start_time: int | None
    boot_id: str | None


def boot_id() -> str | None:
    """This boot's id (Linux), or None."""
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, start_time)`` of ``pid`` from /proc, or None when it does not exist."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None (gone, or no /proc)."""
    st = _stat(pid)
    return st[1] if st is not None else None


def identify(pid: int) -> ProcessId:
    """The identity of a running process, to be recorded for later adoption."""
    return ProcessId(pid, start_time(pid), boot_id())


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(proc: ProcessId) -> bool:
    """True if ``proc`` still runs: same boot, pid exists, not a zombie, same start time."""
    if proc.boot_id is not None and proc.boot_id != boot_id():
        return False
    if proc.start_time is None:
        return _pid_exists(proc.pid)
    st = _stat(proc.pid)
    return st is not None and st[0] not in ("Z", "X", "x") and st[1] == proc.start_time


def pid_taken_by_other(proc: ProcessId) -> bool:
    """True if ``proc.pid`` now belongs to a different process (reuse, or another boot).

    Signalling the group ``proc.pid`` is safe exactly when this is False: a pid that is still
    some process group's id cannot be handed to a new process, so a group named after a dead
    leader holds only that leader's descendants.
    """
    if proc.boot_id is not None and proc.boot_id != boot_id():
        return True
    if proc.start_time is None:
        return False
    st = _stat(proc.pid)
    return st is not None and st[1] != proc.start_time


def signal_process(proc: ProcessId, sig: int) -> None:
    """Send ``sig`` to ``proc`` alone if it is still itself; never raises."""
    if is_alive(proc):
        with contextlib.suppress(OSError):
            os.kill(proc.pid, sig)


def signal_group(proc: ProcessId, sig: int) -> None:
    """Send ``sig`` to the process group led by ``proc`` (alive or not); never raises.

    Does nothing when the pid now belongs to someone else.
    """
    if pid_taken_by_other(proc):
        return
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, sig)


def reap(pid: int) -> int | None:
    """Reap our child ``pid`` without blocking: its exit code (``-N`` if signalled), None while
    it runs. Raises ChildProcessError when it is not (or no longer) our child."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except InterruptedError:
        return None
    except OSError as exc:
        if exc.errno == errno.ECHILD:
            raise ChildProcessError(pid) from exc
        raise
    if got == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, ``signal 77`` for an unknown number."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
