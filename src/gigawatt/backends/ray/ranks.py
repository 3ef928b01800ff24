"""The actors of one attempt, found by name, and what each rank's state is.

All calls are bounded by a timeout: a node that does not answer makes a rank look running
(``None``) rather than hanging the control loop; a rank whose actor is gone is :class:`Gone`
(whether its node died is decided by the caller from ``ray.nodes()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError

from gigawatt.backends.base import ExitStatus
from gigawatt.backends.local import exit_status
from gigawatt.backends.ray.actor import NOT_STARTED


@dataclass(frozen=True, slots=True)
class Gone:
    """The rank's actor no longer exists (killed, crashed, or its node died)."""


#: ``None``: still running (or not answering); an ExitStatus: ended on its own; Gone.
RankState = ExitStatus | Gone | None


def lookup(name: str, namespace: str) -> Any | None:
    """The handle of the named actor, or None when there is none."""
    try:
        return ray.get_actor(name, namespace=namespace)
    except ValueError:
        return None


def _gather(refs: Sequence[Any | None], timeout_s: float) -> list[tuple[str, Any]]:
    """Results of ``refs`` as ``("ok", value)``, ``("gone", None)`` or ``("slow", None)``."""
    live = [r for r in refs if r is not None]
    ready: set[Any] = set()
    if live:
        done, _ = ray.wait(live, num_returns=len(live), timeout=timeout_s)
        ready = set(done)
    out: list[tuple[str, Any]] = []
    for ref in refs:
        if ref is None:
            out.append(("gone", None))
        elif ref not in ready:
            out.append(("slow", None))
        else:
            try:
                out.append(("ok", ray.get(ref, timeout=timeout_s)))
            except ActorUnavailableError:
                out.append(("slow", None))
            except RayActorError:
                out.append(("gone", None))
            except (GetTimeoutError, RayError):
                out.append(("slow", None))
    return out


def _state(result: tuple[str, Any]) -> RankState:
    kind, value = result
    if kind == "gone":
        return Gone()
    if kind == "slow" or value is None:
        return None
    if value == NOT_STARTED:
        return Gone()
    return exit_status(int(value))


class AttemptRanks:
    """Handles on the rank actors of one attempt (None where an actor is gone)."""

    def __init__(
        self,
        names: Sequence[str],
        namespace: str,
        timeout_s: float,
        handles: Sequence[Any | None] | None = None,
    ) -> None:
        self.names = list(names)
        self.timeout_s = timeout_s
        if handles is not None and len(handles) == len(self.names):
            self.actors: list[Any | None] = list(handles)
        else:
            self.actors = [lookup(n, namespace) for n in self.names]

    def _call(self, method: str, *args: object) -> list[tuple[str, Any]]:
        refs: list[Any | None] = []
        for actor in self.actors:
            ref = None
            if actor is not None:
                with contextlib.suppress(RayError):
                    ref = getattr(actor, method).remote(*args)
            refs.append(ref)
        return _gather(refs, self.timeout_s)

    def any_found(self) -> bool:
        """True if at least one rank's actor still exists."""
        return any(a is not None for a in self.actors)

    def states(self) -> list[RankState]:
        """Every rank's state."""
        return [_state(r) for r in self._call("status")]

    def ended_times(self) -> list[float | None]:
        """When each rank's process exited (None where unknown or still running)."""
        return [
            float(v) if k == "ok" and isinstance(v, int | float) else None
            for k, v in self._call("ended")
        ]

    def signal(self, signum: int, ranks: Sequence[int] | None = None) -> None:
        """Send ``signum`` to the process groups of ``ranks`` (default all)."""
        chosen = set(range(len(self.actors)) if ranks is None else ranks)
        for rank, actor in enumerate(self.actors):
            if actor is not None and rank in chosen:
                with contextlib.suppress(RayError):
                    actor.signal.remote(signum)

    def kill(self, wait_s: float) -> list[RankState]:
        """SIGKILL every rank's process group and return the states after."""
        return [_state(r) for r in self._call("kill", wait_s)]

    def tails(self, limit: int) -> list[str | None]:
        """Each rank's output (its last ``limit`` bytes), None where it cannot be read."""
        return [v if k == "ok" else None for k, v in self._call("tail", limit)]

    def destroy(self) -> None:
        """Remove the ranks' files on their nodes and kill the actors."""
        self._call("cleanup")
        for actor in self.actors:
            if actor is not None:
                with contextlib.suppress(RayError, ValueError):
                    ray.kill(actor, no_restart=True)
        self.actors = [None] * len(self.actors)
