"""The actor that runs one rank of an attempt on its Ray node (this code runs on that node).

One detached actor per rank lives in its placement-group bundle and is the parent of the
rank's process, so it knows the exit code however long the control plane is away. The
process is started in a new session (its own process group, so signals reach everything it
spawns) through a small exec shim that asks the kernel to SIGKILL it should the actor die
(``PR_SET_PDEATHSIG``, Linux): when a node is lost, its jobs do not linger. Output (stdout
and stderr, merged) goes to ``rank-<r>.log`` in a per-attempt directory on the node, which is
also the job's working directory; the backend reads it back with :meth:`RankActor.tail`.

Isolation: when the backend passes a tenant (external tenants' attempts with the sandbox on),
the rank runs in the same bubblewrap sandbox as on the local backend
(:class:`~gigawatt.backends.sandbox.SandboxPolicy`): own PID/mount/IPC/UTS namespaces, the
tenant's unprivileged uid on this node, private ``/tmp``, a read-only host view in which every
other rank's directory under the node's work root is hidden, and only its own work directory
writable. The shim (outside the sandbox) execs ``bwrap``, so the actor stays its parent, a
killed process group takes the whole sandbox with it and ``--die-with-parent`` ends it with
the actor. Every Ray node needs bubblewrap for that; without it the rank refuses to start.

The job's environment: a small base built on the node (``PATH`` with the node's Python
first, ``HOME``, ``LANG``...), then what the backend sends (the job's ``env`` and Gigawatt's
variables), then Ray's ``CUDA_VISIBLE_DEVICES`` for the GPUs of this actor's bundle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from gigawatt.backends.launch_env import default_base_env
from gigawatt.backends.layout import read_tail

#: Runs as ``python -I -S -c SHIM <parent pid> <argv...>``: die with the parent, then exec.
SHIM = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    os._exit(137)
argv = sys.argv[2:]
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    print(f"gigawatt: cannot run {argv[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
    os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
"""
NOT_STARTED = "not started"


def work_root() -> Path:
    """Where ranks keep their logs on this node: ``$GIGAWATT_RAY_WORKDIR`` or the temp dir."""
    base = os.environ.get("GIGAWATT_RAY_WORKDIR") or os.path.join(
        tempfile.gettempdir(), "gigawatt-ray"
    )
    return Path(base)


def sandboxed(workdir: Path, tenant: str, argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped in ``tenant``'s sandbox on this node (raises when bwrap is missing)."""
    from gigawatt.backends.sandbox import SandboxPolicy

    root = work_root()
    policy = SandboxPolicy(state_dir=root / ".sandbox", hide=(root,))
    found = policy.probe()
    if not found.ok:
        raise RuntimeError(f"cannot sandbox this rank on its Ray node: {found.reason}")
    uid = policy.uid_for(tenant)
    policy.prepare_workdir(workdir, uid)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")  # Ray's GPUs for this bundle
    gpus = [int(i) for i in visible.split(",") if i.strip().isdigit()]
    return policy.argv(workdir, uid, list(argv), gpus)


def free_port() -> int:
    """A TCP port free on this node right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class RankActor:
    """Runs and supervises one rank's process (instantiated by Ray as a detached actor)."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None
        self.sent: set[int] = set()
        #: wall time the process exited, recorded by a watcher thread however long the
        #: control plane is away (it bills an attempt that ended unobserved up to it)
        self.ended_at: float | None = None

    def where(self, want_port: bool) -> dict[str, object]:
        """This actor's node id, IP, Ray's GPU ids and CUDA_VISIBLE_DEVICES, and (for rank 0)
        a free port for ``MASTER_PORT``."""
        import ray

        ctx = ray.get_runtime_context()
        return {
            "node_id": ctx.get_node_id(),
            "ip": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "pid": os.getpid(),
            "port": free_port() if want_port else None,
        }

    def launch(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        subdir: str,
        sandbox_tenant: str | None = None,
    ) -> int:
        """Start the rank's process; returns its pid (idempotent: a second call returns it).
        ``sandbox_tenant``: run it in that tenant's sandbox (see the module docstring)."""
        if self.proc is not None:
            return self.proc.pid
        workdir = work_root() / subdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"rank-{self.rank}.log"
        if sandbox_tenant is not None:
            argv = sandboxed(workdir, sandbox_tenant, argv)
        full = default_base_env()
        full.update(env)
        cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
        if cuda is not None:
            full["CUDA_VISIBLE_DEVICES"] = cuda
        if sandbox_tenant is not None:
            full["HOME"] = str(workdir)  # the node's home directories are hidden
        cmd = [sys.executable, "-I", "-S", "-c", SHIM, str(os.getpid()), *argv]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full,
                cwd=workdir,
                start_new_session=True,
                close_fds=True,
            )
        threading.Thread(target=self._watch, args=(self.proc,), daemon=True).start()
        return self.proc.pid

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self.ended_at = time.time()

    def ended(self) -> float | None:
        """Wall time the rank's process exited; None while it runs (or never started)."""
        return self.ended_at

    def status(self) -> int | str | None:
        """The exit code (``-N``: killed by signal N), None while running, or
        :data:`NOT_STARTED`."""
        if self.proc is None:
            return NOT_STARTED
        return self.proc.poll()

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the rank's whole process group, once (a second SIGTERM could
        interrupt the job's own clean-up); False when it already ended or was signalled."""
        if self.proc is None or self.proc.poll() is not None or signum in self.sent:
            return False
        self.sent.add(signum)
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signum)
        return True

    def kill(self, wait_s: float) -> int | str | None:
        """SIGKILL the process group, wait up to ``wait_s`` for the exit; returns :meth:`status`."""
        if self.proc is None:
            return NOT_STARTED
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=wait_s)
        return self.proc.poll()

    def tail(self, limit: int) -> str:
        """At most the last ``limit`` bytes of the rank's output ('' when none)."""
        return read_tail(self.log, limit) if self.log is not None else ""

    def cleanup(self) -> None:
        """Remove the log (the backend has a copy) and the attempt's and job's directories if
        they are left empty."""
        if self.log is None:
            return
        with contextlib.suppress(OSError):
            self.log.unlink()
            self.log.parent.rmdir()
            self.log.parent.parent.rmdir()
