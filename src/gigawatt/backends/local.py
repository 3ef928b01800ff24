"""Run attempts as real processes on this machine.

Each rank (one per node entry of the placement) runs under :mod:`gigawatt.backends.runner`
as the leader of a new session and process group; its output goes to a log file and its exit
code to an exit file (see :mod:`gigawatt.backends.layout`). Everything needed to find the
processes again is in ``Handle.data`` (JSON-safe), so a control plane killed with -9 and
restarted can adopt running attempts and learn how finished ones ended:

- ``poll``: exit file present → that status; runner alive → None; runner gone without an exit
  file → ``ExitStatus(-9, signalled=True, reason="lost")`` (``"killed"`` after :meth:`kill`).
  Whichever way a rank ends, what is left of its process group is SIGKILLed.
- Any rank failing fails the attempt: the other ranks get SIGTERM, then SIGKILL after
  ``rank_grace_s``.
- ``terminate`` asks each runner to SIGTERM its group; ``kill`` SIGKILLs the groups. The
  services layer owns the grace period between the two.
- ``adopt`` is True while a rank still runs (its runner lives, matched by pid, start time
  and boot id, and has not written its exit code).
  When it is False, ``poll`` says how the attempt ended (a real exit code if it finished
  while the control plane was down, else lost).

Choices: the job's working directory is the control plane's; without NVIDIA GPUs
``CUDA_VISIBLE_DEVICES`` is left unset (see :mod:`gigawatt.backends.launch_env`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from gigawatt.backends import nvml, procs, runner
from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec
from gigawatt.backends.launch_env import check_env, default_base_env, fold_indices, rank_env
from gigawatt.backends.layout import AttemptDir, read_logs, valid_job_id
from gigawatt.core.clock import Clock, WallClock
from gigawatt.core.errors import InvalidInput

MAX_LOG_BYTES = 1 << 20
#: Signals reset to their default action in the runner (the control plane may ignore some).
_SIGDEF = (
    *(signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE),
    *(signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGXFSZ),
)


def exit_status(code: int) -> ExitStatus:
    """The status of a process that ended with ``code`` (``-N``: killed by signal N)."""
    if code == 0:
        return ExitStatus(0)
    if code < 0:
        return ExitStatus(code, signalled=True, reason=f"signal {procs.signal_name(-code)}")
    return ExitStatus(code, reason=f"exit code {code}")


class LocalBackend(Backend):
    """Real processes on this machine; files under ``state_dir``.

    ``gpus``: the machine's GPUs (default: discovered with NVML; pass ``[]`` to force a
    logical fleet). ``base_env``: the environment every job starts from (default
    :func:`~gigawatt.backends.launch_env.default_base_env`). ``python``: the interpreter that
    runs the runner (default: this one).
    """

    name = "local"

    def __init__(
        self,
        state_dir: Path,
        *,
        gpus: Sequence[nvml.GpuInfo] | None = None,
        base_env: Mapping[str, str] | None = None,
        max_log_bytes: int = MAX_LOG_BYTES,
        rank_grace_s: float = 10.0,
        clock: Clock | None = None,
        python: str | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.gpus: list[nvml.GpuInfo] = list(gpus) if gpus is not None else nvml.gpu_inventory()
        self.base_env = dict(base_env) if base_env is not None else default_base_env()
        self.max_log_bytes = max_log_bytes
        self.rank_grace_s = rank_grace_s
        self.clock: Clock = clock if clock is not None else WallClock()
        self.python = python or sys.executable
        self._runner = str(Path(runner.__file__).resolve())
        self._lock = threading.Lock()
        self._children: set[int] = set()  # runners we spawned and have not reaped
        self._reaped: dict[int, int] = {}  # pid -> exit code of runners we reaped

    # -- Backend interface -------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> Handle:
        """Spawn one runner per rank and return a handle recording their identities."""
        check_env(spec.env)
        if not spec.command:
            raise InvalidInput("must not be empty", "command")
        adir = AttemptDir.of(self.state_dir, spec.job_id, spec.attempt)
        adir.prepare()
        world = max(1, len(spec.placement))
        port = procs.free_port()
        physical = self._physical_gpus(spec)
        energy = nvml.energy_counters_mj(physical) if physical else None
        ranks: list[procs.ProcessId] = []
        try:
            for rank in range(world):
                env = rank_env(spec, rank, world, port, self.base_env, len(self.gpus))
                ranks.append(self._spawn(spec.command, env, adir, rank))
        except BaseException:
            for proc in ranks:
                procs.signal_group(proc, signal.SIGKILL)
            self._reap()
            raise
        data: dict[str, object] = {
            "backend": self.name,
            "v": 1,
            "dir": str(adir.root),
            "boot_id": procs.boot_id(),
            "ranks": [{"pid": p.pid, "start_time": p.start_time} for p in ranks],
            "logs": [str(adir.log(r)) for r in range(world)],
            "gpus": physical,
            "energy_start_mj": {str(k): v for k, v in energy.items()} if energy else None,
        }
        return Handle(spec.job_id, spec.attempt, data)

    def poll(self, handle: Handle) -> ExitStatus | None:
        """The attempt's status once every rank has ended, None while any runs."""
        parsed = _parse(handle)
        if parsed is None:
            return ExitStatus(-9, signalled=True, reason="lost")
        adir, ranks = parsed
        self._reap()
        statuses = [self._rank_status(adir, r, proc) for r, proc in enumerate(ranks)]
        for proc, status in zip(ranks, statuses, strict=True):
            if status is not None:  # the rank is over: nothing of it may linger
                procs.signal_group(proc, signal.SIGKILL)
        if any(s is None for s in statuses):
            if any(s is not None and not s.succeeded for s in statuses):
                self._fail_fast(adir, ranks, statuses)
            return None
        return _combine([s for s in statuses if s is not None])

    def terminate(self, handle: Handle) -> None:
        """SIGTERM to each rank's runner, which passes it to its whole group. Idempotent."""
        parsed = _parse(handle)
        if parsed is None:
            return
        for proc in parsed[1]:
            if procs.is_alive(proc):
                procs.signal_process(proc, signal.SIGTERM)
            else:  # runner gone: whatever is left of its group
                procs.signal_group(proc, signal.SIGTERM)

    def kill(self, handle: Handle) -> None:
        """SIGKILL to every rank's process group. Idempotent."""
        parsed = _parse(handle)
        if parsed is None:
            return
        adir, ranks = parsed
        with contextlib.suppress(OSError):
            adir.killed.touch()
        for proc in ranks:
            procs.signal_group(proc, signal.SIGKILL)
        self._reap()

    def adopt(self, handle: Handle) -> bool:
        """True while any rank still runs: its runner lives (pid, start time and boot id
        match) and has not written its exit code. Agrees with :meth:`poll` returning None."""
        parsed = _parse(handle)
        if parsed is None:
            return False
        adir, ranks = parsed
        self._reap()
        return any(self._rank_status(adir, r, proc) is None for r, proc in enumerate(ranks))

    def logs(self, job_id: str, attempt: int) -> str:
        """The attempt's output, at most ``max_log_bytes`` (the end of it); '' when none."""
        if not valid_job_id(job_id) or attempt < 0:
            return ""
        return read_logs(AttemptDir.of(self.state_dir, job_id, attempt), self.max_log_bytes)

    def energy_kwh(self, handle: Handle) -> float | None:
        """Energy of the attempt's GPUs from start until now (NVML counters), else None.

        Whole-GPU counters: GPUs shared with other work count that work too.
        """
        start = handle.data.get("energy_start_mj")
        gpus = handle.data.get("gpus")
        if not isinstance(start, dict) or not isinstance(gpus, list) or not self.gpus:
            return None
        now = nvml.energy_counters_mj([int(i) for i in gpus])
        if now is None:
            return None
        try:
            delta = sum(now[int(k)] - int(v) for k, v in start.items())
        except (KeyError, TypeError, ValueError):
            return None
        return nvml.mj_to_kwh(delta) if delta >= 0 else None

    # -- internals -----------------------------------------------------------------------

    def _physical_gpus(self, spec: LaunchSpec) -> list[int]:
        if not self.gpus:
            return []
        out: list[int] = []
        for indices in spec.gpu_indices:
            out.extend(i for i in fold_indices(indices, len(self.gpus)) if i not in out)
        return sorted(out)

    def _spawn(
        self, command: Sequence[str], env: Mapping[str, str], adir: AttemptDir, rank: int
    ) -> procs.ProcessId:
        argv = [self.python, "-I", "-S", self._runner, str(adir.exit(rank)), "--", *command]
        append = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(adir.log(rank)), append, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        with self._lock:
            pid = os.posix_spawn(
                self.python,
                argv,
                dict(env),
                file_actions=actions,
                setsid=True,
                setsigdef=_SIGDEF,
                # Blocked until the runner's handlers are in place (it unblocks them).
                setsigmask=runner.FORWARDED,
            )
            self._children.add(pid)
            self._reaped.pop(pid, None)
        return procs.identify(pid)

    def _reap(self) -> None:
        with self._lock:
            for pid in list(self._children):
                try:
                    code = procs.reap(pid)
                except ChildProcessError:
                    self._children.discard(pid)
                    continue
                if code is not None:
                    self._children.discard(pid)
                    self._reaped[pid] = code

    def _rank_status(self, adir: AttemptDir, rank: int, proc: procs.ProcessId) -> ExitStatus | None:
        code = runner.read_exit_code(adir.exit(rank))
        if code is not None:
            return exit_status(code)
        with self._lock:
            ours = proc.pid in self._children
        if ours or procs.is_alive(proc):
            return None
        # Gone. It may have written its exit file between our read and its death.
        code = runner.read_exit_code(adir.exit(rank))
        if code is not None:
            return exit_status(code)
        with self._lock:
            raw = self._reaped.get(proc.pid, -9)
        reason = "killed" if adir.killed.exists() else "lost"
        return ExitStatus(raw if raw < 0 else -9, signalled=True, reason=reason)

    def _fail_fast(
        self,
        adir: AttemptDir,
        ranks: Sequence[procs.ProcessId],
        statuses: Sequence[ExitStatus | None],
    ) -> None:
        """A rank failed while others run: SIGTERM them once, SIGKILL after the grace."""
        now = self.clock.now()
        try:
            since: float | None = float(adir.failfast.read_text())
        except (OSError, ValueError):
            since = None
        if since is None:
            with contextlib.suppress(OSError):
                adir.failfast.write_text(repr(now))
        elif now - since < self.rank_grace_s:
            return
        for proc, status in zip(ranks, statuses, strict=True):
            if status is None and since is None:
                procs.signal_process(proc, signal.SIGTERM)
            elif status is None:
                procs.signal_group(proc, signal.SIGKILL)


def _parse(handle: Handle) -> tuple[AttemptDir, list[procs.ProcessId]] | None:
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


def _combine(statuses: Sequence[ExitStatus]) -> ExitStatus:
    """One status for the attempt: success if every rank succeeded, else the first rank that
    failed on its own (before ranks stopped by signal), its reason prefixed with the rank."""
    failed = [(r, s) for r, s in enumerate(statuses) if not s.succeeded]
    if not failed:
        return ExitStatus(0)
    own = [(r, s) for r, s in failed if not s.signalled]
    rank, status = (own or failed)[0]
    if len(statuses) == 1:
        return status
    return ExitStatus(status.exit_code, status.signalled, f"rank {rank}: {status.reason}")
