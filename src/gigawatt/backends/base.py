"""The Backend interface: how the control plane runs a placed job's processes.

A backend executes; it never decides. The scheduler chooses nodes and GPUs, the services layer
records state, and a backend turns a :class:`LaunchSpec` into running processes, reports how
they end, stops them gracefully, and finds them again after a control-plane restart.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from gigawatt.core.fleet import NodeSpec
from gigawatt.scheduling.model import Placement

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """Everything needed to start one attempt of a job."""

    job_id: str
    attempt: int
    command: tuple[str, ...]
    env: Mapping[str, str]
    placement: Placement
    #: Physical GPU indices chosen on each node of the placement (same order as placement).
    gpu_indices: tuple[tuple[int, ...], ...]
    gpu_type: str
    max_runtime_s: float | None = None
    #: The tenant the attempt runs for (sandboxed jobs run as that tenant's OS user).
    tenant_id: str | None = None
    #: Run the attempt in a sandbox (external tenants' jobs; see ``backends/sandbox.py``).
    isolate: bool = False
    #: Per-rank limits the job asked for (``memory_mb``, ``pids``, ``cpus``); None: defaults.
    limits: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Handle:
    """A backend's reference to a running attempt; ``data`` is JSON-safe and stored in the DB
    so that a restarted control plane can adopt the attempt (``pid``, ``start_time``, …)."""

    job_id: str
    attempt: int
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How an attempt ended. ``exit_code`` 0 with ``signalled`` False means success."""

    exit_code: int
    signalled: bool = False
    reason: str = ""
    #: Wall time the attempt really started and ended, as its supervisor recorded them
    #: (None when unknown); billing ends an attempt that ended unobserved at ``ended_at``.
    started_at: float | None = field(default=None, compare=False)
    ended_at: float | None = field(default=None, compare=False)

    @property
    def succeeded(self) -> bool:
        """True when every process exited 0 on its own."""
        return self.exit_code == 0 and not self.signalled


class Backend(ABC):
    """Runs attempts. Implementations: fake (in memory), local (processes), ray."""

    name: str = "abstract"

    @abstractmethod
    def start(self, spec: LaunchSpec) -> Handle:
        """Start the attempt's processes and return at once."""

    @abstractmethod
    def poll(self, handle: Handle) -> ExitStatus | None:
        """The exit status once every process has ended, None while any still runs."""

    @abstractmethod
    def terminate(self, handle: Handle) -> None:
        """Ask the processes to stop (SIGTERM or equivalent). Idempotent."""

    @abstractmethod
    def kill(self, handle: Handle) -> None:
        """Stop the processes now (SIGKILL or equivalent) and free their resources. Idempotent."""

    @abstractmethod
    def adopt(self, handle: Handle) -> bool:
        """After a control-plane restart: True if the attempt still runs and is now tracked."""

    @abstractmethod
    def logs(self, job_id: str, attempt: int) -> str:
        """The captured output of one attempt ('' when none)."""

    def poll_many(
        self, handles: Mapping[tuple[str, int], Handle]
    ) -> dict[tuple[str, int], ExitStatus]:
        """The exit status of every attempt among ``handles`` (keyed ``(job_id, attempt)``)
        that has ended; running ones are left out. The default polls each handle (a failing
        poll is logged and counts as running); a backend that learns of ends as they happen
        overrides it to answer in the time of what ended (the fake backend does)."""
        out: dict[tuple[str, int], ExitStatus] = {}
        for key, handle in handles.items():
            try:
                status = self.poll(handle)
            except Exception:
                _log.exception("polling job %s attempt %s failed", handle.job_id, handle.attempt)
                continue
            if status is not None:
                out[key] = status
        return out

    def find(self, job_id: str, attempt: int, ranks: int) -> Handle | None:
        """After a restart, for an attempt recorded as launching but without a handle: fence
        it (nothing of it may start from now on) and return the handle of what was already
        started (to adopt, or poll), or None when nothing was."""
        return None

    def refusal(self, external: bool) -> str | None:
        """Why a job of an (``external``) tenant cannot be run safely here; None when it can."""
        return None

    def isolation(self) -> str | None:
        """How jobs are isolated (``bwrap``, ``none``, ``unavailable``); None: not applicable."""
        return None

    def discover_nodes(self) -> list[NodeSpec] | None:
        """Nodes the backend itself knows (Ray); None when the fleet file is authoritative."""
        return None

    def sweep(self, keep: set[tuple[str, int]]) -> list[str]:
        """Remove leftovers of attempts not in ``keep`` (``(job_id, attempt)``) that the
        control plane no longer knows (Ray: orphaned placement groups); names removed."""
        return []

    def energy_kwh(self, handle: Handle) -> float | None:
        """Energy measured for the attempt (NVML), or None to use catalogue power x time."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release backend resources at server shutdown (running jobs keep running)."""
