"""An in-memory backend for unit tests, API tests, demos and the simulator.

Nothing runs. An attempt "runs" until the caller ends it with :meth:`FakeBackend.finish`, until
its automatic duration has passed on the backend's :class:`~gigawatt.core.clock.Clock`, or
until :meth:`FakeBackend.terminate` / :meth:`FakeBackend.kill`. Every call is recorded in
:attr:`FakeBackend.calls` as ``(method, job_id, attempt)`` for assertions.

Per-attempt behaviour can also come from the launch environment, so API tests can drive it
through ``POST /v1/jobs`` without touching the backend object:

- ``GIGAWATT_FAKE_DURATION_S``: finish on its own this many seconds after start;
- ``GIGAWATT_FAKE_EXIT_CODE``: the exit code it then finishes with (default 0);
- ``GIGAWATT_FAKE_IGNORE_SIGTERM=1``: survive :meth:`~FakeBackend.terminate` (only kill ends it).
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec
from gigawatt.core.clock import Clock, WallClock
from gigawatt.core.fleet import NodeSpec

ENV_DURATION = "GIGAWATT_FAKE_DURATION_S"
ENV_EXIT_CODE = "GIGAWATT_FAKE_EXIT_CODE"
ENV_IGNORE_SIGTERM = "GIGAWATT_FAKE_IGNORE_SIGTERM"

TERMINATED = ExitStatus(exit_code=-15, signalled=True, reason="signal SIGTERM")
KILLED = ExitStatus(exit_code=-9, signalled=True, reason="killed")
LOST = ExitStatus(exit_code=-9, signalled=True, reason="lost")

Key = tuple[str, int]


@dataclass(slots=True)
class FakeAttempt:
    """The backend's record of one attempt (mutable, owned by the backend)."""

    spec: LaunchSpec
    started_at: float
    duration_s: float | None
    exit_code: int
    ignores_sigterm: bool
    status: ExitStatus | None = None
    log: list[str] = field(default_factory=list)
    energy_kwh: float | None = None


def _env_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        return default


class FakeBackend(Backend):
    """Deterministic in-memory backend, driven by the caller (see module docstring).

    ``duration_s`` / ``exit_code`` / ``ignores_sigterm`` are defaults for every attempt; the
    launch env variables above override them per attempt. ``nodes`` is what
    :meth:`discover_nodes` returns (None: the fleet file is authoritative). :attr:`calls`
    keeps at most ``max_calls`` entries (the oldest half goes when full), so a long-running
    demo server does not grow without bound; likewise at most ``max_ended`` ended attempts
    whose end was reported (by :meth:`poll` or :meth:`poll_many`) are remembered, oldest
    forgotten first (then polled as lost, with no logs).
    """

    name = "fake"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        duration_s: float | None = None,
        exit_code: int = 0,
        ignores_sigterm: bool = False,
        nodes: Sequence[NodeSpec] | None = None,
        max_calls: int = 100_000,
        max_ended: int = 10_000,
    ) -> None:
        self.clock: Clock = clock if clock is not None else WallClock()
        self.duration_s = duration_s
        self.exit_code = exit_code
        self.ignores_sigterm = ignores_sigterm
        self._nodes = list(nodes) if nodes is not None else None
        self._attempts: dict[Key, FakeAttempt] = {}
        self.max_calls = max_calls
        self.max_ended = max_ended
        #: (due time, key) of attempts with a duration: :meth:`poll_many` ends them when due
        self._due: list[tuple[float, Key]] = []
        #: attempts that ended (or were lost) and whose end nobody was told yet, in order
        self._unreported: dict[Key, None] = {}
        #: reported ends, oldest first (forgotten beyond ``max_ended``)
        self._retired: deque[Key] = deque()
        self._lock = threading.RLock()
        #: Every call made, in order: ``(method, job_id, attempt)``.
        self.calls: list[tuple[str, str, int]] = []

    # -- Backend interface -------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> Handle:
        """Record the attempt as running and return its handle."""
        with self._lock:
            self._record("start", spec.job_id, spec.attempt)
            duration = _env_float(spec.env, ENV_DURATION)
            ignores = spec.env.get(ENV_IGNORE_SIGTERM, "") in ("1", "true", "yes")
            att = FakeAttempt(
                spec=spec,
                started_at=self.clock.now(),
                duration_s=duration if duration is not None else self.duration_s,
                exit_code=_env_int(spec.env, ENV_EXIT_CODE, self.exit_code),
                ignores_sigterm=ignores or self.ignores_sigterm,
            )
            att.log.append(f"[fake] start {spec.job_id} attempt {spec.attempt}: {spec.command}")
            self._attempts[(spec.job_id, spec.attempt)] = att
            if att.duration_s is not None:
                due = att.started_at + att.duration_s
                heapq.heappush(self._due, (due, (spec.job_id, spec.attempt)))
            return Handle(spec.job_id, spec.attempt, {"backend": "fake"})

    def poll(self, handle: Handle) -> ExitStatus | None:
        """The status once ended (by finish, duration, terminate or kill); lost when unknown."""
        with self._lock:
            self._record("poll", handle.job_id, handle.attempt)
            key = (handle.job_id, handle.attempt)
            att = self._attempts.get(key)
            if att is None:
                self._unreported.pop(key, None)
                return LOST
            self._advance(att)
            if att.status is not None:
                self._reported(key)
            return att.status

    def poll_many(self, handles: Mapping[Key, Handle]) -> dict[Key, ExitStatus]:
        """Like :meth:`poll` for each of ``handles``, in the time of what ended since the
        last call (recorded as ``poll`` calls of the attempts that ended). A subclass that
        overrides :meth:`poll` gets it called for each handle instead."""
        if type(self).poll is not FakeBackend.poll:
            return super().poll_many(handles)
        with self._lock:
            now = self.clock.now()
            due = self._due
            while due and due[0][0] <= now:
                _, key = heapq.heappop(due)
                att = self._attempts.get(key)
                if att is not None:
                    self._advance(att)
            out: dict[Key, ExitStatus] = {}
            for key in [k for k in self._unreported if k in handles]:
                att = self._attempts.get(key)
                out[key] = LOST if att is None or att.status is None else att.status
                self._record("poll", key[0], key[1])
                if att is None:
                    del self._unreported[key]
                else:
                    self._reported(key)
            return out

    def terminate(self, handle: Handle) -> None:
        """SIGTERM: ends the attempt with -15, unless it ignores SIGTERM. Idempotent."""
        with self._lock:
            self._record("terminate", handle.job_id, handle.attempt)
            att = self._live(handle)
            if att is None:
                return
            if att.ignores_sigterm:
                att.log.append("[fake] SIGTERM ignored")
                return
            self._end(att, TERMINATED)

    def kill(self, handle: Handle) -> None:
        """SIGKILL: always ends the attempt with -9. Idempotent."""
        with self._lock:
            self._record("kill", handle.job_id, handle.attempt)
            att = self._live(handle)
            if att is not None:
                self._end(att, KILLED)

    def adopt(self, handle: Handle) -> bool:
        """True while this backend still has the attempt running."""
        with self._lock:
            self._record("adopt", handle.job_id, handle.attempt)
            return self._live(handle) is not None

    def logs(self, job_id: str, attempt: int) -> str:
        """One line per event of the attempt ('' when unknown)."""
        with self._lock:
            self._record("logs", job_id, attempt)
            att = self._attempts.get((job_id, attempt))
            return "".join(line + "\n" for line in att.log) if att is not None else ""

    def discover_nodes(self) -> list[NodeSpec] | None:
        """The ``nodes`` given to the constructor, or None."""
        return list(self._nodes) if self._nodes is not None else None

    def energy_kwh(self, handle: Handle) -> float | None:
        """The energy set with :meth:`set_energy`, else None (catalogue power x time)."""
        with self._lock:
            att = self._attempts.get((handle.job_id, handle.attempt))
            return att.energy_kwh if att is not None else None

    # -- test controls -------------------------------------------------------------------

    def finish(self, job_id: str, attempt: int, exit_code: int = 0) -> None:
        """End a running attempt on its own with ``exit_code`` (no-op if already ended)."""
        with self._lock:
            att = self._attempts.get((job_id, attempt))
            if att is None:
                raise KeyError(f"no fake attempt {job_id}#{attempt}")
            self._advance(att)
            if att.status is None:
                self._end(att, _exited(exit_code))

    def lose(self, job_id: str, attempt: int) -> None:
        """Forget an attempt, as if its process vanished: adopt False, poll reports lost."""
        with self._lock:
            if self._attempts.pop((job_id, attempt), None) is not None:
                self._unreported[(job_id, attempt)] = None

    def set_energy(self, job_id: str, attempt: int, kwh: float | None) -> None:
        """Make :meth:`energy_kwh` report ``kwh`` for the attempt."""
        with self._lock:
            self._attempts[(job_id, attempt)].energy_kwh = kwh

    def spec(self, job_id: str, attempt: int) -> LaunchSpec:
        """The launch spec an attempt was started with."""
        with self._lock:
            return self._attempts[(job_id, attempt)].spec

    def running(self) -> list[tuple[str, int]]:
        """``(job_id, attempt)`` of every attempt still running, in start order."""
        with self._lock:
            out = []
            for key, att in self._attempts.items():
                self._advance(att)
                if att.status is None:
                    out.append(key)
            return out

    def calls_of(self, method: str) -> list[tuple[str, int]]:
        """``(job_id, attempt)`` of every recorded call to ``method``."""
        with self._lock:
            return [(j, a) for m, j, a in self.calls if m == method]

    # -- internals -----------------------------------------------------------------------

    def _reported(self, key: Key) -> None:
        """Someone was told that ``key`` ended: forget the oldest such beyond ``max_ended``."""
        if self._unreported.pop(key, False) is None:
            self._retired.append(key)
            while len(self._retired) > self.max_ended:
                old = self._retired.popleft()
                gone = self._attempts.get(old)
                if gone is not None and gone.status is not None:
                    del self._attempts[old]

    def _record(self, method: str, job_id: str, attempt: int) -> None:
        if len(self.calls) >= self.max_calls:
            del self.calls[: max(1, len(self.calls) // 2)]
        self.calls.append((method, job_id, attempt))

    def _live(self, handle: Handle) -> FakeAttempt | None:
        att = self._attempts.get((handle.job_id, handle.attempt))
        if att is None:
            return None
        self._advance(att)
        return att if att.status is None else None

    def _advance(self, att: FakeAttempt) -> None:
        due = att.duration_s is not None and self.clock.now() >= att.started_at + att.duration_s
        if att.status is None and due:
            self._end(att, _exited(att.exit_code))

    def _end(self, att: FakeAttempt, status: ExitStatus) -> None:
        att.status = status
        self._unreported[(att.spec.job_id, att.spec.attempt)] = None
        att.log.append(f"[fake] ended: exit {status.exit_code} {status.reason}".rstrip())


def _exited(code: int) -> ExitStatus:
    if code == 0:
        return ExitStatus(0)
    if code < 0:
        return ExitStatus(code, signalled=True, reason=f"signal {-code}")
    return ExitStatus(code, reason=f"exit code {code}")
