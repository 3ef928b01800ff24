"""The per-rank supervisor every local job runs under.

``python runner.py [--claim F] [--log-cap N] [--cgroup DIR]... [--spare-child] EXIT -- ARGV...``

In order, it:

0. closes every file descriptor it inherited but stdin, stdout and stderr;
1. claims the rank (``--claim``): links a file holding its identity (pid, start time in clock
   ticks, boot id) and the wall time it starts the job to ``F``. The link fails if ``F``
   exists: a restarted control plane *fenced* the rank (decided it never started), and the
   runner exits without running anything. A claim is how a restarted control plane finds a
   rank it launched but never recorded (exactly once, see ``local.py``);
2. starts ``ARGV`` as a child that joins the rank's cgroups before ``exec`` (``--cgroup``),
   with its stdout and stderr on a pipe the runner copies to its own stdout (the rank's log),
   keeping at most ``--log-cap`` bytes on disk: past the cap the file is rewritten with its
   tail and a marker saying how many bytes were dropped;
3. forwards SIGTERM/SIGINT/SIGHUP: to every process of the cgroups (except its direct child
   with ``--spare-child``: the sandbox's outer process, whose death would kill the sandbox at
   once), else to its own process group, once;
4. when the job's main process ends: SIGKILLs whatever is left in the cgroups (no process
   outlives its rank) and removes them, and writes ``<code> <end wall time>`` to ``EXIT``,
   atomically and fsynced (``-N``: killed by signal N).

SIGKILL goes to the runner's group and the cgroups directly; the runner dies with them and
writes nothing (the backend knows it killed).

Stdlib only, never imports ``gigawatt``: it is started with ``python -I -S`` by file path so
that it works whatever the job's environment. It loads ``sandbox_cgroup.py`` next to it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Exit code of a runner whose rank was fenced before it could claim it.
FENCED_EXIT = 75
DROPPED = "[gigawatt: {n} bytes of earlier output dropped (log cap {cap} bytes)]\n"


def _cgroup_module() -> ModuleType:
    here = Path(__file__).resolve().parent / "sandbox_cgroup.py"
    spec = importlib.util.spec_from_file_location("_gigawatt_sandbox_cgroup", here)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while it loads
    spec.loader.exec_module(module)
    return module


def _fsync_write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_exit_code(path: str, code: int, ended_at: float | None = None) -> None:
    """Write ``code`` (and the end time) to ``path`` atomically (temp file, fsync, rename)."""
    end = time.time() if ended_at is None else ended_at
    tmp = f"{path}.tmp"
    _fsync_write(tmp, f"{code} {end!r}\n")
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dirfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


def read_exit(path: str | os.PathLike[str]) -> tuple[int, float | None] | None:
    """``(exit code, end wall time or None)`` stored at ``path``; None when absent."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.read().split()
        code = int(fields[0])
        end = float(fields[1]) if len(fields) > 1 else None
    except (OSError, ValueError, IndexError):
        return None
    return code, end


def read_exit_code(path: str | os.PathLike[str]) -> int | None:
    """The exit code stored at ``path``, or None when absent or unreadable."""
    found = read_exit(path)
    return None if found is None else found[0]


def _self_identity() -> dict[str, Any]:
    ident: dict[str, Any] = {"pid": os.getpid(), "start_time": None, "boot_id": None}
    with contextlib.suppress(OSError, ValueError, IndexError):
        raw = Path("/proc/self/stat").read_text()
        ident["start_time"] = int(raw[raw.rfind(")") + 2 :].split()[19])
    with contextlib.suppress(OSError):
        ident["boot_id"] = Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    return ident


def claim(path: str, record: dict[str, Any]) -> dict[str, Any]:
    """Create ``path`` holding ``record`` unless it exists; the record now at ``path``.

    Atomic and complete: the record is written to a temp file, fsynced, then hard-linked to
    ``path`` (which fails if it exists). A caller compares the result with its own record.
    """
    tmp = f"{path}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    _fsync_write(tmp, json.dumps(record))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


class CappedLog:
    """Copies the job's output to file descriptor 1 (the log) keeping at most ``cap`` bytes
    on disk: past it, the file is replaced by a marker and the newest ``cap // 2`` bytes."""

    def __init__(self, path: str | None, cap: int | None) -> None:
        self.path = path
        self.cap = cap if cap and cap > 0 else None
        self.dropped = 0
        try:
            self.size = os.fstat(1).st_size
        except OSError:
            self.size = 0

    def write(self, data: bytes) -> None:
        """Append ``data``, compacting first when the cap would be passed."""
        if self.cap is not None and self.path and self.size + len(data) > self.cap:
            self._compact(data)
            return
        with contextlib.suppress(OSError):
            os.write(1, data)
            self.size += len(data)

    def _compact(self, data: bytes) -> None:
        assert self.cap is not None and self.path is not None
        keep = max(1, self.cap // 2)
        try:
            with open(self.path, "rb") as f:
                old = f.read()
        except OSError:
            old = b""
        body = old.split(b"\n", 1)[1] if self.dropped and b"\n" in old else old
        joined = body + data
        self.dropped += max(0, len(joined) - keep)
        tail = joined[-keep:]
        marker = DROPPED.format(n=self.dropped, cap=self.cap).encode()
        tmp = f"{self.path}.cap.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            os.write(fd, marker + tail)
            os.replace(tmp, self.path)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        except OSError:
            return
        self.size = len(marker) + len(tail)


def _pump(fd: int, out: CappedLog) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out.write(chunk)
    os.close(fd)


class _Forwarder:
    """Signal handler: passes SIGTERM/SIGINT/SIGHUP on to the job."""

    def __init__(self, cgroups: list[str], spare_child: bool, cg: ModuleType | None) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: int | None = None
        self.cgroups = cgroups
        self.spare_child = spare_child
        self.cg = cg

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.child is None:
            self.pending = signum  # not started yet: do not start it at all
            return
        if self.child.returncode is not None:
            return
        if self.cgroups and self.cg is not None:
            spare = {os.getpid(), self.child.pid} if self.spare_child else {os.getpid()}
            if self.cg.signal_members(self.cgroups, signum, spare):
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


def _spawn(cmd: list[str], cgroups: list[str], cg: ModuleType | None, out_w: int | None) -> Any:
    """Start the job (in the cgroups), or return the shell-style code for why it could not."""

    def enter() -> None:
        if cg is not None:
            cg.join(cgroups)

    try:
        return subprocess.Popen(
            cmd, stdout=out_w, stderr=out_w, preexec_fn=enter if cgroups else None
        )
    except FileNotFoundError as exc:
        print(f"gigawatt: cannot run {cmd[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return 127
    except OSError as exc:
        print(f"gigawatt: cannot run {cmd[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        return 126


def _parse(args: list[str]) -> tuple[dict[str, Any], str, list[str]] | None:
    opts: dict[str, Any] = {"claim": None, "log_cap": None, "cgroups": [], "spare": False}
    i = 0
    while i < len(args) and args[i].startswith("--") and args[i] != "--":
        name = args[i]
        if name == "--spare-child":
            opts["spare"] = True
            i += 1
            continue
        if i + 1 >= len(args):
            return None
        value = args[i + 1]
        if name == "--claim":
            opts["claim"] = value
        elif name == "--log-cap":
            if not value.isdigit():
                return None
            opts["log_cap"] = int(value)
        elif name == "--cgroup":
            opts["cgroups"].append(value)
        else:
            return None
        i += 2
    rest = args[i:]
    if len(rest) < 3 or rest[1] != "--":
        return None
    return opts, rest[0], rest[2:]


def main(argv: list[str] | None = None) -> int:
    """Run the job, record its exit code and end time, and exit with it (128+N if signalled)."""
    parsed = _parse(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print(
            "usage: runner.py [--claim F] [--log-cap N] [--cgroup DIR]... [--spare-child] "
            "EXIT_FILE -- COMMAND [ARGS...]",
            file=sys.stderr,
        )
        return 2
    opts, exit_file, cmd = parsed
    # Nothing of the control plane's (its listening socket, its database) reaches the job.
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
    cgroups: list[str] = opts["cgroups"]
    cg = _cgroup_module() if cgroups else None
    forwarder = _Forwarder(cgroups, opts["spare"], cg)
    for sig in FORWARDED:
        signal.signal(sig, forwarder)
    if opts["claim"] is not None:
        mine = {**_self_identity(), "started_at": time.time()}
        if claim(opts["claim"], mine).get("pid") != mine["pid"]:
            print("gigawatt: this attempt was fenced; not starting it", file=sys.stderr)
            return FENCED_EXIT
    # The backend starts us with these blocked so that none is lost before this point.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    log_path = "/proc/self/fd/1" if opts["log_cap"] else None
    out = CappedLog(os.path.realpath(log_path) if log_path else None, opts["log_cap"])
    read_fd, write_fd = os.pipe() if out.cap else (None, None)
    spawned = -forwarder.pending if forwarder.pending is not None else None
    if spawned is None:
        spawned = _spawn(cmd, cgroups, cg, write_fd)
    pump: threading.Thread | None = None
    if write_fd is not None and read_fd is not None:
        os.close(write_fd)
        pump = threading.Thread(target=_pump, args=(read_fd, out), daemon=True)
        pump.start()
    if isinstance(spawned, int):
        code = spawned
    else:
        forwarder.child = spawned
        if forwarder.pending is not None:
            forwarder(forwarder.pending, None)
        code = spawned.wait()
    ended_at = time.time()
    if cg is not None:
        cg.kill_all(cgroups)  # nothing of the job outlives it
        cg.remove(cgroups)
    if pump is not None:
        pump.join(2.0)
    write_exit_code(exit_file, code, ended_at)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
