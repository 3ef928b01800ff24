"""The sandbox an external tenant's attempt runs in: bubblewrap, one OS user per tenant.

Each rank of a sandboxed attempt runs as ``bwrap <view> -- setpriv <user> -- <command>``:

- new PID, mount, IPC and UTS namespaces (the job sees only its own processes; when its main
  process ends, the namespace's init dies and the kernel kills everything left in it;
  ``--die-with-parent`` does the same when the runner is killed);
- a read-only view of the host (``--ro-bind / /``) with a fresh ``/proc`` and ``/dev``, a
  private ``/tmp``, ``/var/tmp`` and ``/dev/shm``, and empty directories over what belongs to
  the server: its state directory (every attempt's logs and work directories), its data
  directory and database file, ``/root`` and ``/home``, the PostgreSQL socket and data
  directories, ``/sys/fs/cgroup`` (other attempts' cgroups are named after their jobs);
  the Python installation the server runs is bound back read-only, so ``python`` works;
- the attempt's own work directory, writable, as the working directory and ``HOME``;
- an unprivileged user per tenant: uid/gid ``uid_base + n`` (``n`` allocated once per tenant
  and stored in ``<state_dir>/sandbox/uids.json``), no supplementary groups, no capabilities
  (not even in the bounding set), ``no_new_privs``. No user database entry is needed.
  Without root, ``--unshare-user`` is used instead: jobs then run as the server's user inside a
  user namespace (separated by namespaces and the hidden paths, not by uid).

The environment is the job's alone (see :mod:`gigawatt.backends.launch_env`); the runner
passes it to bwrap, which passes it on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ISOLATION_MODES = ("bwrap", "none")
DEFAULT_UID_BASE = 1_500_000
MAX_TENANTS = 1 << 16
#: The NVIDIA driver's shared device nodes a CUDA process opens besides its GPUs' own.
GPU_CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
#: Always private or hidden inside the sandbox (when they exist on the host).
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
HIDDEN = (
    *("/root", "/home", "/run/postgresql", "/var/run/postgresql", "/var/lib/postgresql"),
    "/sys/fs/cgroup",  # other attempts' cgroups are named after their jobs
)


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether the sandbox can be set up on this host, and why not."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """How sandboxed ranks are set up. ``hide``: more host paths to hide (the server's data
    directory and database file); the state directory is always hidden."""

    state_dir: Path
    hide: tuple[Path, ...] = ()
    uid_base: int = DEFAULT_UID_BASE
    bwrap: str = "bwrap"
    setpriv: str = "setpriv"
    python_paths: tuple[Path, ...] = field(default_factory=lambda: python_paths())
    #: Where the host's device nodes are (a test may point it at a directory of its own).
    dev_root: Path = Path("/dev")

    @property
    def as_root(self) -> bool:
        """True when the server is root, so jobs get their own uid (setpriv)."""
        return os.geteuid() == 0

    def uid_for(self, tenant: str) -> int:
        """The uid (= gid) of ``tenant``'s jobs, allocated on first use and kept."""
        return self.uid_base + tenant_index(self.state_dir / "sandbox", tenant)

    def gpu_devices(self, gpus: Sequence[int]) -> list[str]:
        """Device nodes of exactly these NVIDIA GPUs (``nvidia<N>``) and, when there are any,
        the driver's shared control nodes, as bwrap ``--dev-bind`` arguments (bwrap's fresh
        ``/dev`` holds no GPU at all, so a sandboxed job sees only what it was allocated)."""
        nodes = [self.dev_root / f"nvidia{i}" for i in sorted(set(gpus))]
        nodes = [n for n in nodes if n.exists()]
        if nodes:
            nodes += [self.dev_root / n for n in GPU_CONTROL_NODES if (self.dev_root / n).exists()]
        args: list[str] = []
        for node in nodes:
            args += ["--dev-bind", str(node), f"/dev/{node.name}"]
        return args

    def argv(
        self, workdir: Path, uid: int, command: Sequence[str], gpus: Sequence[int] = ()
    ) -> list[str]:
        """The full argv that runs ``command`` sandboxed in ``workdir`` as ``uid``, with the
        device nodes of ``gpus`` (physical indices) and no other GPU."""
        args = [self.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc"]
        args += ["--unshare-uts", "--hostname", "gigawatt-job", "--unshare-cgroup-try"]
        if not self.as_root:
            args += ["--unshare-user"]
        args += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
        args += self.gpu_devices(gpus)
        for tmp in PRIVATE_TMP:
            if Path(tmp).is_dir():
                args += ["--tmpfs", tmp]
        for hidden in sorted({Path(h).resolve() for h in HIDDEN}):
            args += _hide(hidden)
        for keep in self.python_paths:
            # a Python under a hidden or private directory (a venv in /tmp) is bound back
            if keep.is_dir() and any(_within(keep, Path(h)) for h in (*HIDDEN, *PRIVATE_TMP)):
                args += ["--ro-bind", str(keep), str(keep)]
        for secret in (self.state_dir, *self.hide):  # last: no bind above may show them again
            args += _hide(Path(secret).resolve())
        args += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
        if self.as_root:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            args += ["--cap-add", "CAP_SETPCAP", "--", self.setpriv]
            args += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
            args += ["--inh-caps=-all", "--bounding-set=-all", "--"]
        else:
            args += ["--"]
        return args + list(command)

    def prepare_workdir(self, workdir: Path, uid: int) -> None:
        """Create the work directory, owned by ``uid`` (when root), mode 0700."""
        workdir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            os.chown(workdir, uid, uid)
        workdir.chmod(0o700)

    def probe(self) -> Availability:
        """Run ``true`` in a sandbox like a job's: can this host isolate jobs?"""
        if shutil.which(self.bwrap) is None:
            return Availability(False, "bubblewrap (bwrap) is not installed")
        if self.as_root and shutil.which(self.setpriv) is None:
            return Availability(False, "setpriv (util-linux) is not installed")
        probe_dir = self.state_dir / "sandbox" / "probe"
        try:
            self.prepare_workdir(probe_dir, self.uid_base)
            done = subprocess.run(
                self.argv(probe_dir, self.uid_base, ["true"]),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return Availability(False, f"cannot run bubblewrap: {exc}")
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            return Availability(False, f"bubblewrap failed: {err[-1] if err else done.returncode}")
        return Availability(True)


def _within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _hide(path: Path) -> list[str]:
    """bwrap arguments that hide ``path``: an empty tmpfs over a directory, /dev/null over
    a file, nothing when it does not exist."""
    if path.is_dir():
        return ["--tmpfs", str(path)]
    if path.exists():
        return ["--ro-bind", "/dev/null", str(path)]
    return []


def python_paths() -> tuple[Path, ...]:
    """Directories of this Python installation (prefixes, ``sys.path``) to keep visible."""
    found: list[Path] = []
    for raw in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        found.append(Path(raw))
    found += [Path(p) for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)]
    out: list[Path] = []
    for path in found:
        if path not in out:
            out.append(path)
    return tuple(out)


def tenant_index(directory: Path, tenant: str) -> int:
    """The index of ``tenant`` in ``directory/uids.json`` (added under a file lock, fsynced)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "uids.json"
    with open(directory / "uids.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        table: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                table = {str(k): int(v) for k, v in loaded.items()}
        if tenant in table:
            return table[tenant]
        index = 1 + max(table.values(), default=0)
        if index >= MAX_TENANTS:
            raise OSError(f"no sandbox uid left for tenant {tenant!r}")
        table[tenant] = index
        tmp = directory / "uids.json.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return index
