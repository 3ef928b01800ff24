"""The tiny wrapper every local job runs under: ``python runner.py <exit-file> -- <argv...>``.

It runs ``argv`` as a child, forwards SIGTERM/SIGINT/SIGHUP to the job, and writes the
child's exit code (``-N`` when killed by signal N) atomically to ``<exit-file>``. The control
plane can thus learn how a job ended even when it is not the job's parent any more (after it
was restarted, or killed with -9 and restarted).

Signals: the local backend starts the runner as the leader of a new session and process
group, and sends SIGTERM to the runner alone; the runner then signals its whole process group
(the job and everything it spawned) exactly once, ignoring the echo to itself. SIGKILL goes to
the group directly; the runner dies with it and writes nothing (the backend knows it killed).

Stdlib only, never imports ``gigawatt``: it is started with ``python -I -S`` by file path so
that it works whatever the job's environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def write_exit_code(path: str, code: int) -> None:
    """Write ``code`` to ``path`` atomically (temp file, fsync, rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{code}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_exit_code(path: str | os.PathLike[str]) -> int | None:
    """The exit code stored at ``path``, or None when absent or unreadable."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class _Forwarder:
    """Signal handler: passes SIGTERM/SIGINT/SIGHUP on to the job."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.child is None:
            self.pending = signum  # not started yet: do not start it at all
            return
        if self.child.returncode is not None:
            return
        if os.getpgrp() == os.getpid():
            # Leader of the job's group: signal the group once, without signalling ourselves.
            signal.signal(signum, signal.SIG_IGN)
            try:
                os.killpg(os.getpid(), signum)
            except OSError:
                pass
            finally:
                signal.signal(signum, self)
        else:
            with contextlib.suppress(OSError):
                self.child.send_signal(signum)


def _spawn(cmd: list[str]) -> subprocess.Popen[bytes] | int:
    """Start the job, or return the shell-style code for why it could not start."""
    try:
        return subprocess.Popen(cmd)
    except FileNotFoundError as exc:
        print(f"gigawatt: cannot run {cmd[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return 127
    except OSError as exc:
        print(f"gigawatt: cannot run {cmd[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return 126


def main(argv: list[str] | None = None) -> int:
    """Run the job, record its exit code, and exit with it (128+N when signalled)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print("usage: runner.py EXIT_FILE -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    exit_file, cmd = args[0], args[2:]
    forwarder = _Forwarder()
    for sig in FORWARDED:
        signal.signal(sig, forwarder)
    # The backend starts us with these blocked so that none is lost before this point.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    spawned = -forwarder.pending if forwarder.pending is not None else _spawn(cmd)
    if isinstance(spawned, int):
        code = spawned
    else:
        forwarder.child = spawned
        if forwarder.pending is not None:
            forwarder(forwarder.pending, None)
        code = spawned.wait()
    write_exit_code(exit_file, code)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
