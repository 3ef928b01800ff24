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

Exactly once: each rank's runner *claims* ``rank-<r>.claim`` before it starts the job
(see :mod:`gigawatt.backends.runner`). :meth:`LocalBackend.find` fences an attempt that a
dead control plane recorded as launching but never recorded as launched: ranks not claimed
yet can never start, ranks already claimed are returned as a handle to adopt. :meth:`sweep`
kills what runs for attempts the database does not know as active.

Isolation: an attempt whose spec says ``isolate`` runs in the sandbox of
:mod:`gigawatt.backends.sandbox` (bubblewrap, one OS user per tenant) with its own work
directory; every rank runs in its own cgroup (:mod:`gigawatt.backends.sandbox_cgroup`) where
the host allows it, so nothing of it survives the rank. Logs are capped on disk
(``log_cap_bytes`` per attempt, the tail kept, a marker where bytes were dropped).

Choices: an unsandboxed job's working directory is the control plane's; without NVIDIA GPUs
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
from gigawatt.backends import sandbox_cgroup as cgroup
from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec
from gigawatt.backends.launch_env import check_env, default_base_env, fold_indices, rank_env
from gigawatt.backends.layout import AttemptDir, read_logs, valid_job_id
from gigawatt.backends.local_records import (
    attempt_ids,
    cgroups_of,
    claimed_handle,
    combine,
    exit_status,
    parse_handle,
    rank_times,
)
from gigawatt.backends.sandbox import Availability, SandboxPolicy
from gigawatt.core.clock import Clock, WallClock
from gigawatt.core.errors import InvalidInput

#: What ``logs`` returns at most (the end of the output).
MAX_LOG_BYTES = 1 << 20
#: What an attempt may keep on disk (all ranks together); the tail is kept past it.
LOG_CAP_BYTES = 16 << 20
#: Signals reset to their default action in the runner (the control plane may ignore some).
_SIGDEF = (
    *(signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE),
    *(signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGXFSZ),
)
ISOLATIONS = ("bwrap", "none")

__all__ = ["LOG_CAP_BYTES", "MAX_LOG_BYTES", "LocalBackend", "exit_status"]


class LocalBackend(Backend):
    """Real processes on this machine; files under ``state_dir``.

    ``gpus``: the machine's GPUs (default: discovered with NVML; pass ``[]`` to force a
    logical fleet). ``base_env``: the environment every job starts from (default
    :func:`~gigawatt.backends.launch_env.default_base_env`). ``python``: the interpreter that
    runs the runner (default: this one). ``isolation``: ``bwrap`` (attempts whose spec says
    ``isolate`` run sandboxed; refused when the sandbox cannot be set up) or ``none``.
    ``hide``: more paths sandboxed jobs must not see (data directory, database file).
    ``limits``: per-GPU cgroup limits of a rank (``memory_bytes``, ``cpu_weight``) and its
    process count (``pids_max``).
    """

    name = "local"

    def __init__(
        self,
        state_dir: Path,
        *,
        gpus: Sequence[nvml.GpuInfo] | None = None,
        base_env: Mapping[str, str] | None = None,
        max_log_bytes: int = MAX_LOG_BYTES,
        log_cap_bytes: int = LOG_CAP_BYTES,
        rank_grace_s: float = 10.0,
        clock: Clock | None = None,
        python: str | None = None,
        isolation: str = "bwrap",
        hide: Sequence[Path] = (),
        limits: cgroup.Limits | None = None,
    ) -> None:
        if isolation not in ISOLATIONS:
            raise InvalidInput(f"use one of {', '.join(ISOLATIONS)}", "isolation")
        self.state_dir = Path(state_dir)
        self.gpus: list[nvml.GpuInfo] = list(gpus) if gpus is not None else nvml.gpu_inventory()
        self.base_env = dict(base_env) if base_env is not None else default_base_env()
        self.max_log_bytes = max_log_bytes
        self.log_cap_bytes = log_cap_bytes
        self.rank_grace_s = rank_grace_s
        self.clock: Clock = clock if clock is not None else WallClock()
        self.python = python or sys.executable
        self.isolation_mode = isolation
        self.policy = SandboxPolicy(self.state_dir, tuple(Path(p) for p in hide))
        self.limits = limits if limits is not None else cgroup.Limits()
        self.hierarchies = cgroup.layout()
        self.scope = cgroup.scope_name(self.state_dir)
        self._runner = str(Path(runner.__file__).resolve())
        self._lock = threading.Lock()
        self._available: Availability | None = None
        self._children: set[int] = set()  # runners we spawned and have not reaped
        self._reaped: dict[int, int] = {}  # pid -> exit code of runners we reaped

    # -- isolation -----------------------------------------------------------------------

    def availability(self) -> Availability:
        """Whether the sandbox can be set up here (probed once)."""
        with self._lock:
            if self._available is None:
                self._available = self.policy.probe()
            return self._available

    def isolation(self) -> str:
        """``bwrap`` (sandbox works), ``unavailable`` (asked for, cannot) or ``none``."""
        if self.isolation_mode == "none":
            return "none"
        return "bwrap" if self.availability().ok else "unavailable"

    def refusal(self, external: bool) -> str | None:
        """Why an external tenant's job cannot run here (no sandbox and not ``none``)."""
        if not external or self.isolation_mode == "none":
            return None
        found = self.availability()
        if found.ok:
            return None
        return (
            f"this server cannot sandbox external tenants' jobs ({found.reason}); the operator "
            "must install bubblewrap or start it with --isolation none"
        )

    # -- Backend interface -------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> Handle:
        """Spawn one runner per rank and return a handle recording their identities."""
        check_env(spec.env)
        if not spec.command:
            raise InvalidInput("must not be empty", "command")
        sandboxed = spec.isolate and self.isolation_mode == "bwrap"
        if sandboxed and not self.availability().ok:
            raise InvalidInput(self.refusal(True) or "no sandbox", "isolation")
        adir = AttemptDir.of(self.state_dir, spec.job_id, spec.attempt)
        adir.prepare()
        world = max(1, len(spec.placement))
        port = procs.free_port()
        physical = self._physical_gpus(spec)
        energy = nvml.energy_counters_mj(physical) if physical else None
        uid = self.policy.uid_for(spec.tenant_id or "-") if sandboxed else None
        if uid is not None:
            self.policy.prepare_workdir(adir.work, uid)
        ranks: list[procs.ProcessId] = []
        groups: list[list[str]] = []
        try:
            for rank in range(world):
                env = rank_env(spec, rank, world, port, self.base_env, len(self.gpus))
                command = list(spec.command)
                if uid is not None:
                    env.update(HOME=str(adir.work), TMPDIR="/tmp", USER="job", LOGNAME="job")
                    gpus = self._rank_gpus(spec, rank)
                    command = self.policy.argv(adir.work, uid, command, gpus)
                dirs = self._cgroups(spec, rank)
                groups.append([str(d) for d in dirs])
                ranks.append(self._spawn(command, env, adir, rank, world, dirs, uid is not None))
        except BaseException:
            for proc, made in zip(ranks, groups, strict=False):
                procs.signal_group(proc, signal.SIGKILL)
                cgroup.kill_all(made)
            self._reap()
            raise
        data: dict[str, object] = {
            "backend": self.name,
            "v": 2,
            "dir": str(adir.root),
            "boot_id": procs.boot_id(),
            "ranks": [{"pid": p.pid, "start_time": p.start_time} for p in ranks],
            "logs": [str(adir.log(r)) for r in range(world)],
            "cgroups": groups,
            "sandbox": uid is not None,
            "uid": uid,
            "gpus": physical,
            "energy_start_mj": {str(k): v for k, v in energy.items()} if energy else None,
        }
        return Handle(spec.job_id, spec.attempt, data)

    def poll(self, handle: Handle) -> ExitStatus | None:
        """The attempt's status once every rank has ended, None while any runs."""
        parsed = parse_handle(handle)
        if parsed is None:
            return ExitStatus(-9, signalled=True, reason="lost")
        adir, ranks = parsed
        self._reap()
        statuses = [self._rank_status(adir, r, proc) for r, proc in enumerate(ranks)]
        for r, (proc, status) in enumerate(zip(ranks, statuses, strict=True)):
            if status is not None:  # the rank is over: nothing of it may linger
                procs.signal_group(proc, signal.SIGKILL)
                self._end_cgroups(handle, r)
        if any(s is None for s in statuses):
            if any(s is not None and not s.succeeded for s in statuses):
                self._fail_fast(adir, ranks, statuses)
            return None
        done = combine([s for s in statuses if s is not None])
        started, ended = rank_times(adir, len(ranks))
        return ExitStatus(done.exit_code, done.signalled, done.reason, started, ended)

    def terminate(self, handle: Handle) -> None:
        """SIGTERM to each rank's runner, which passes it to the job. Idempotent."""
        parsed = parse_handle(handle)
        if parsed is None:
            return
        for proc in parsed[1]:
            if procs.is_alive(proc):
                procs.signal_process(proc, signal.SIGTERM)
            else:  # runner gone: whatever is left of its group
                procs.signal_group(proc, signal.SIGTERM)

    def kill(self, handle: Handle) -> None:
        """SIGKILL to every rank's process group and cgroups. Idempotent."""
        parsed = parse_handle(handle)
        if parsed is None:
            return
        adir, ranks = parsed
        with contextlib.suppress(OSError):
            adir.killed.touch()
        for r, proc in enumerate(ranks):
            procs.signal_group(proc, signal.SIGKILL)
            dirs = cgroups_of(handle, r)
            if cgroup.kill_all(dirs):
                cgroup.remove(dirs)
        self._reap()

    def adopt(self, handle: Handle) -> bool:
        """True while any rank still runs: its runner lives (pid, start time and boot id
        match) and has not written its exit code. Agrees with :meth:`poll` returning None."""
        parsed = parse_handle(handle)
        if parsed is None:
            return False
        adir, ranks = parsed
        self._reap()
        return any(self._rank_status(adir, r, proc) is None for r, proc in enumerate(ranks))

    def find(self, job_id: str, attempt: int, ranks: int) -> Handle | None:
        """Fence every rank of the attempt not claimed by a runner yet; the handle of the
        ranks already claimed (every one), or None when none was. A partly started attempt
        (some ranks fenced) is killed and returned, so that it ends as killed."""
        if not valid_job_id(job_id) or attempt < 0:
            return None
        adir = AttemptDir.of(self.state_dir, job_id, attempt)
        adir.root.mkdir(parents=True, exist_ok=True)
        claims = [runner.claim(str(adir.claim(r)), {"fenced": True}) for r in range(ranks)]
        started = [c for c in claims if c.get("pid")]
        if not started:
            return None
        names = [[str(d) for d in self._cgroup_dirs(job_id, attempt, r)] for r in range(ranks)]
        if len(started) == len(claims):
            return claimed_handle(job_id, attempt, adir, started, names)
        handle = claimed_handle(job_id, attempt, adir, started, [])
        self.kill(handle)
        for dirs in names:
            cgroup.kill_all(dirs)
            cgroup.remove(dirs)
        return handle

    def sweep(self, keep: set[tuple[str, int]]) -> list[str]:
        """Fence every rank under this state directory of an attempt not in ``keep`` and kill
        what of it runs (runner alive, or processes in its cgroup); ``job/attempt`` names of
        those killed."""
        removed: list[str] = []
        for job_id, attempt, adir in attempt_ids(self.state_dir):
            if (job_id, attempt) in keep:
                continue
            world = len(adir.rank_logs()) or 1
            if all(adir.exit(r).exists() for r in range(world)):
                continue  # every rank's runner finished (and emptied its cgroup)
            hit = False
            for r in range(world):
                # Fence what has not started yet, so that it never does.
                claim = runner.claim(str(adir.claim(r)), {"fenced": True})
                dirs = [str(d) for d in self._cgroup_dirs(job_id, attempt, r)]
                proc = _claim_process(claim)
                alive = proc is not None and procs.is_alive(proc)
                if alive and proc is not None:
                    procs.signal_group(proc, signal.SIGKILL)
                if cgroup.members(dirs):
                    alive = True
                    cgroup.kill_all(dirs)
                cgroup.remove(dirs)
                hit = hit or alive
            if hit:
                with contextlib.suppress(OSError):
                    adir.killed.touch()
                removed.append(f"{job_id}/{attempt}")
        self._reap()
        return removed

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

    def _rank_gpus(self, spec: LaunchSpec, rank: int) -> list[int]:
        """Physical indices of one rank's GPUs (none without real GPUs)."""
        if not self.gpus or rank >= len(spec.gpu_indices):
            return []
        return fold_indices(spec.gpu_indices[rank], len(self.gpus))

    def _physical_gpus(self, spec: LaunchSpec) -> list[int]:
        if not self.gpus:
            return []
        out: list[int] = []
        for indices in spec.gpu_indices:
            out.extend(i for i in fold_indices(indices, len(self.gpus)) if i not in out)
        return sorted(out)

    def _cgroup_dirs(self, job_id: str, attempt: int, rank: int) -> tuple[Path, ...]:
        """The rank's cgroup directories (deterministic: found again after a restart)."""
        return cgroup.rank_dirs(self.hierarchies, self.scope, f"{job_id}.{attempt}.{rank}")

    def _cgroups(self, spec: LaunchSpec, rank: int) -> tuple[Path, ...]:
        gpus = spec.placement[rank][1] if rank < len(spec.placement) else 1
        limits = rank_limits(self.limits, gpus, spec.limits)
        return cgroup.create(self._cgroup_dirs(spec.job_id, spec.attempt, rank), limits)

    def _end_cgroups(self, handle: Handle, rank: int) -> None:
        dirs = cgroups_of(handle, rank)
        if dirs:
            cgroup.kill_all(dirs)
            cgroup.remove(dirs)

    def _spawn(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        adir: AttemptDir,
        rank: int,
        world: int,
        cgroups: Sequence[Path],
        sandboxed: bool,
    ) -> procs.ProcessId:
        opts = ["--claim", str(adir.claim(rank))]
        if self.log_cap_bytes > 0:
            opts += ["--log-cap", str(max(4096, self.log_cap_bytes // world))]
        for d in cgroups:
            opts += ["--cgroup", str(d)]
        if sandboxed:
            opts.append("--spare-child")
        argv = [self.python, "-I", "-S", self._runner, *opts, str(adir.exit(rank)), "--"]
        argv += command
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
        found = runner.read_exit(adir.exit(rank))
        if found is not None:
            return exit_status(*found)
        with self._lock:
            ours = proc.pid in self._children
        if ours or procs.is_alive(proc):
            return None
        # Gone. It may have written its exit file between our read and its death.
        found = runner.read_exit(adir.exit(rank))
        if found is not None:
            return exit_status(*found)
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


def _claim_process(claim: Mapping[str, object]) -> procs.ProcessId | None:
    """The runner a claim names (None for a fence or an unreadable claim)."""
    pid, start, boot = claim.get("pid"), claim.get("start_time"), claim.get("boot_id")
    if not isinstance(pid, int) or pid <= 1:
        return None
    return procs.ProcessId(
        pid, start if isinstance(start, int) else None, boot if isinstance(boot, str) else None
    )


def rank_limits(
    base: cgroup.Limits, gpus: int, asked: Mapping[str, int] | None = None
) -> cgroup.Limits:
    """A rank's cgroup limits: what the job asked for (``memory_mb``, ``pids``, ``cpus``, per
    rank), else the server's defaults (memory and CPU weight scale with the rank's GPUs)."""
    asked = asked or {}
    per_gpu = max(1, gpus)
    memory = base.memory_bytes * per_gpu if base.memory_bytes is not None else None
    weight = base.cpu_weight * per_gpu if base.cpu_weight is not None else None
    if "memory_mb" in asked:
        memory = asked["memory_mb"] * 1024 * 1024
    if "cpus" in asked:
        weight = asked["cpus"] * 1024
    return cgroup.Limits(
        pids_max=asked.get("pids", base.pids_max), memory_bytes=memory, cpu_weight=weight
    )
