"""Run attempts on a Ray cluster: one placement group per attempt, one actor per rank.

Placement stays Gigawatt's decision: :meth:`RayBackend.discover_nodes` reports the cluster's
GPU nodes (Ray node ids), the scheduler places jobs on them, and :meth:`RayBackend.start`
pins one bundle per node to exactly those nodes (see :mod:`.placement`). Each rank runs under
a detached, named actor (see :mod:`.actor`), so a restarted control plane finds its attempts
by name (:meth:`RayBackend.adopt`) and nothing is lost while it is away.

- ``poll``: every rank ended → the combined status (any failure fails the attempt; the other
  ranks get SIGTERM, SIGKILL after ``rank_grace_s``); a rank's node died →
  ``ExitStatus(-1, reason="node_lost")`` at once, the other ranks killed. When an attempt
  ends, its logs are copied to ``state_dir``, its actors killed and its placement group
  removed; the final status is kept on disk, with the time the last rank's process exited
  (recorded by its actor, so an attempt that ended while the control plane was away is
  billed up to its real end, not to its last heartbeat).
- ``terminate``: SIGTERM to every rank's process group; ``kill``: SIGKILL, then the attempt
  ends as above (ranks stopped this way report ``reason="killed"``).
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError
from ray.util.placement_group import (
    get_placement_group,
    placement_group,
    remove_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from gigawatt.backends.base import Backend, ExitStatus, Handle, LaunchSpec
from gigawatt.backends.launch_env import check_env, rank_env
from gigawatt.backends.layout import AttemptDir, read_logs, valid_job_id
from gigawatt.backends.ray import records
from gigawatt.backends.ray.actor import RankActor
from gigawatt.backends.ray.connect import RayBackendError, connect, disconnect
from gigawatt.backends.ray.discovery import (
    addresses,
    alive_ids,
    cluster_nodes,
    fleet_nodes,
    ray_ids,
)
from gigawatt.backends.ray.placement import GroupPlan, actor_name, plan_group
from gigawatt.backends.ray.ranks import AttemptRanks, Gone, RankState
from gigawatt.backends.sandbox import Availability, SandboxPolicy
from gigawatt.core.clock import Clock, WallClock
from gigawatt.core.errors import GigawattError, InvalidInput
from gigawatt.core.fleet import NodeSpec

MAX_LOG_BYTES = 1 << 20
NODE_LOST = ExitStatus(-1, reason="node_lost")


class RayBackend(Backend):
    """Attempts as Ray placement groups and actors in ``namespace`` of the cluster at
    ``address`` (``auto`` or ``HOST:PORT``); logs and final statuses under ``state_dir``.

    ``start_timeout_s`` bounds placing and starting an attempt, ``call_timeout_s`` every other
    call to the cluster; ``gone_settle_s`` is how long a vanished rank on a node Ray still
    reports alive is given before it counts as lost (Ray notices a dead node within seconds).
    """

    name = "ray"

    def __init__(
        self,
        address: str,
        state_dir: Path,
        namespace: str = "gigawatt",
        *,
        start_timeout_s: float = 120.0,
        call_timeout_s: float = 10.0,
        rank_grace_s: float = 10.0,
        gone_settle_s: float = 30.0,
        max_log_bytes: int = MAX_LOG_BYTES,
        clock: Clock | None = None,
        isolation: str = "bwrap",
    ) -> None:
        self.address = address
        self.isolation_mode = isolation
        self.state_dir = Path(state_dir)
        self.namespace = namespace
        self.start_timeout_s = start_timeout_s
        self.call_timeout_s = call_timeout_s
        self.rank_grace_s = rank_grace_s
        self.gone_settle_s = gone_settle_s
        self.max_log_bytes = max_log_bytes
        self.clock: Clock = clock if clock is not None else WallClock()
        self._available: Availability | None = None
        self._owns_connection = connect(address, namespace)
        self._actor_cls: Any = ray.remote(RankActor)
        #: Actor handles by attempt (group name), so that polling does not ask the GCS each time.
        self._handles: dict[str, list[Any | None]] = {}

    # -- Backend interface -------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> Handle:
        """Place the attempt's bundles on its nodes, start one actor per rank and launch the
        command in each; returns once every rank's process runs (or raises, leaving nothing)."""
        check_env(spec.env)
        if not spec.command:
            raise InvalidInput("must not be empty", "command")
        plan_group(spec)  # refuse a bad spec before asking the cluster anything
        known = ray_ids(cluster_nodes())
        dead = [node for node, _ in spec.placement if node not in known]
        if dead:
            raise RayBackendError(f"node(s) not alive in the Ray cluster: {', '.join(dead)}")
        nodes = tuple(known[node] for node, _ in spec.placement)
        plan = plan_group(spec, nodes)
        adir = AttemptDir.of(self.state_dir, spec.job_id, spec.attempt)
        records.reset(adir)
        names = tuple(actor_name(spec.job_id, spec.attempt, r) for r in range(plan.world))
        info = records.AttemptInfo(str(adir.root), self.namespace, plan.name, names, nodes)
        self._destroy(info)  # leftovers of an earlier start of this very attempt
        records.write_json(adir.root / records.META, info.to_json())
        try:
            extra = self._launch(spec, plan, info)
        except BaseException as exc:
            self._destroy(info)
            if isinstance(exc, GigawattError) or not isinstance(exc, Exception):
                raise
            raise RayBackendError(f"starting {plan.name} on Ray failed: {exc}") from exc
        data: dict[str, object] = {"backend": self.name, "v": 1, **info.to_json(), **extra}
        return Handle(spec.job_id, spec.attempt, data)

    def poll(self, handle: Handle) -> ExitStatus | None:
        """The attempt's status once it is over, None while any rank runs."""
        info = records.AttemptInfo.of_handle(handle)
        if info is None:
            return ExitStatus(-9, signalled=True, reason="lost")
        final = records.read_status(info.adir)
        if final is not None:
            return final
        ranks = self._ranks(info)
        states = ranks.states()
        if any(isinstance(s, Gone) for s in states):
            if self._node_lost(info, states):
                ranks.kill(self.call_timeout_s)
                return self._finish(info, ranks, NODE_LOST)
            states = self._settle(info, states)
        if any(s is None for s in states):
            if any(s is not None and (isinstance(s, Gone) or not s.succeeded) for s in states):
                self._fail_fast(info, ranks, states)
            return None
        killed = info.adir.killed.exists()
        statuses = [
            s
            if isinstance(s, ExitStatus)
            else ExitStatus(-9, signalled=True, reason="killed" if killed else "lost")
            for s in states
        ]
        status = combine(statuses)
        ends = [e for e in ranks.ended_times() if e is not None]
        if len(ends) == len(statuses):  # when it really ended, were we away
            status = replace(status, ended_at=max(ends))
        return self._finish(info, ranks, status)

    def terminate(self, handle: Handle) -> None:
        """SIGTERM to every rank's process group. Idempotent."""
        info = records.AttemptInfo.of_handle(handle)
        if info is None or records.read_status(info.adir) is not None:
            return
        self._ranks(info).signal(signal.SIGTERM)

    def kill(self, handle: Handle) -> None:
        """SIGKILL to every rank's process group, then end the attempt and free its placement
        group. Idempotent."""
        info = records.AttemptInfo.of_handle(handle)
        if info is None:
            return
        if records.read_status(info.adir) is not None:
            self._destroy(info)
            return
        with contextlib.suppress(OSError):
            info.adir.killed.touch()
        ranks = self._ranks(info)
        before = ranks.states()
        after = ranks.kill(self.call_timeout_s)
        statuses: list[ExitStatus] = []
        for b, a in zip(before, after, strict=True):
            if isinstance(b, ExitStatus):
                statuses.append(b)
            elif a is None or isinstance(a, Gone) or a.exit_code == -signal.SIGKILL:
                statuses.append(ExitStatus(-9, signalled=True, reason="killed"))
            else:
                statuses.append(a)
        status = NODE_LOST if self._node_lost(info, before) else combine(statuses)
        self._finish(info, ranks, status)

    def adopt(self, handle: Handle) -> bool:
        """True while any rank of the attempt still runs on the cluster."""
        info = records.AttemptInfo.of_handle(handle)
        if info is None or records.read_status(info.adir) is not None:
            return False
        ranks = self._ranks(info)
        return ranks.any_found() and any(s is None for s in ranks.states())

    def logs(self, job_id: str, attempt: int) -> str:
        """The attempt's output (fetched from the ranks' nodes while it runs); '' when none."""
        if not valid_job_id(job_id) or attempt < 0:
            return ""
        adir = AttemptDir.of(self.state_dir, job_id, attempt)
        info = records.AttemptInfo.from_json(records.read_json(adir.root / records.META))
        if info is not None and records.read_status(adir) is None:
            self._copy_logs(info, self._ranks(info))
        return read_logs(adir, self.max_log_bytes)

    def isolation(self) -> str:
        """``bwrap`` (external tenants' ranks run sandboxed on their nodes, which need
        bubblewrap; this host is probed as a stand-in), ``unavailable`` or ``none``."""
        if self.isolation_mode == "none":
            return "none"
        return "bwrap" if self._availability().ok else "unavailable"

    def refusal(self, external: bool) -> str | None:
        """Why an external tenant's job cannot run here (no sandbox and not ``none``)."""
        if not external or self.isolation_mode == "none":
            return None
        found = self._availability()
        if found.ok:
            return None
        return (
            f"this server cannot sandbox external tenants' jobs ({found.reason}); the operator "
            "must install bubblewrap on the server and every Ray node, or start it with "
            "--isolation none"
        )

    def _availability(self) -> Availability:
        if self._available is None:
            self._available = SandboxPolicy(state_dir=self.state_dir).probe()
        return self._available

    def discover_nodes(self) -> list[NodeSpec] | None:
        """The cluster's alive GPU nodes (see :mod:`.discovery`)."""
        return fleet_nodes(cluster_nodes())

    def close(self) -> None:
        """Disconnect from Ray if this backend connected; attempts keep running."""
        if self._owns_connection:
            disconnect()
            self._owns_connection = False

    # -- extras ------------------------------------------------------------------------

    def sweep(self, keep: set[tuple[str, int]]) -> list[str]:
        """Remove Gigawatt placement groups (and their actors) in this namespace whose
        ``(job_id, attempt)`` is not in ``keep``; returns the names removed. For orphans of a
        control plane that died between starting an attempt and recording it."""
        from gigawatt.backends.ray.sweep import orphan_groups

        removed = []
        for name, job_id, attempt, world in orphan_groups(keep):
            names = tuple(actor_name(job_id, attempt, r) for r in range(world))
            self._destroy(records.AttemptInfo("", self.namespace, name, names, ("",) * world))
            removed.append(name)
        return removed

    # -- internals -----------------------------------------------------------------------

    def _launch(
        self, spec: LaunchSpec, plan: GroupPlan, info: records.AttemptInfo
    ) -> dict[str, object]:
        group = placement_group(
            [dict(b) for b in plan.bundles],
            strategy=plan.strategy,
            name=plan.name,
            lifetime="detached",
            bundle_label_selector=[dict(s) for s in plan.selectors],
        )
        ready, _ = ray.wait([group.ready()], timeout=self.start_timeout_s)
        if not ready:
            raise RayBackendError(
                f"{plan.name}: Ray could not reserve {list(plan.gpus)} GPU(s) of "
                f"{plan.resource} on the chosen nodes within {self.start_timeout_s:g} s"
            )
        actors = [
            self._actor_cls.options(
                name=name,
                namespace=self.namespace,
                lifetime="detached",
                max_restarts=0,
                num_cpus=0,
                num_gpus=gpus,
                resources={plan.resource: gpus},
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=group, placement_group_bundle_index=rank
                ),
            ).remote(rank)
            for rank, (name, gpus) in enumerate(zip(info.actors, plan.gpus, strict=True))
        ]
        where = ray.get(
            [a.where.remote(rank == 0) for rank, a in enumerate(actors)],
            timeout=self.start_timeout_s,
        )
        for rank, w in enumerate(where):
            if w["node_id"] != info.nodes[rank]:
                landed = w["node_id"]
                raise RayBackendError(f"rank {rank} landed on {landed}, not {info.nodes[rank]}")
        ips = addresses(cluster_nodes())
        master_addr = ips.get(info.nodes[0]) or str(where[0]["ip"])
        master_port = int(where[0]["port"])
        subdir = f"{self.namespace}/{spec.job_id}/attempt-{spec.attempt}"
        launches = []
        for rank, actor in enumerate(actors):
            env = rank_env(spec, rank, plan.world, master_port, {}, 0)
            env["MASTER_ADDR"] = master_addr
            env["GIGAWATT_GPU_INDICES"] = ",".join(where[rank]["gpu_ids"])
            tenant = (spec.tenant_id or "-") if self._sandboxes(spec) else None
            launches.append(actor.launch.remote(list(spec.command), env, subdir, tenant))
        pids = ray.get(launches, timeout=self.start_timeout_s)
        return {
            "ips": [ips.get(n) or str(w["ip"]) for n, w in zip(info.nodes, where, strict=True)],
            "pids": [int(p) for p in pids],
            "gpu_ids": [list(w["gpu_ids"]) for w in where],
            "master": f"{master_addr}:{master_port}",
        }

    def _sandboxes(self, spec: LaunchSpec) -> bool:
        return spec.isolate and self.isolation_mode == "bwrap"

    def _ranks(self, info: records.AttemptInfo) -> AttemptRanks:
        """The attempt's rank actors (handles cached; a dead actor's handle reports Gone)."""
        cached = self._handles.get(info.group)
        ranks = AttemptRanks(info.actors, info.namespace, self.call_timeout_s, cached)
        if cached is None and ranks.any_found():
            if len(self._handles) > 10_000:
                self._handles.clear()
            self._handles[info.group] = list(ranks.actors)
        return ranks

    def _node_lost(self, info: records.AttemptInfo, states: list[RankState]) -> bool:
        gone = [info.nodes[r] for r, s in enumerate(states) if isinstance(s, Gone)]
        if not gone:
            return False
        alive = alive_ids(cluster_nodes())
        return any(node not in alive for node in gone)

    def _settle(self, info: records.AttemptInfo, states: list[RankState]) -> list[RankState]:
        """Vanished ranks on nodes still reported alive: wait ``gone_settle_s`` (unless we
        killed them) before they count, in case Ray has not noticed a node death yet."""
        if info.adir.killed.exists():
            return states
        since = records.mark_time(info.adir.root / records.GONE_SINCE, self.clock.now())
        if self.clock.now() - since >= self.gone_settle_s:
            return states
        return [None if isinstance(s, Gone) else s for s in states]

    def _fail_fast(
        self, info: records.AttemptInfo, ranks: AttemptRanks, states: list[RankState]
    ) -> None:
        """A rank failed while others run: SIGTERM them once, SIGKILL after the grace."""
        now = self.clock.now()
        first = records.read_time(info.adir.failfast) is None
        since = records.mark_time(info.adir.failfast, now)
        running = [r for r, s in enumerate(states) if s is None]
        if first:
            ranks.signal(signal.SIGTERM, running)
        elif now - since >= self.rank_grace_s:
            ranks.signal(signal.SIGKILL, running)

    def _copy_logs(self, info: records.AttemptInfo, ranks: AttemptRanks) -> None:
        for rank, text in enumerate(ranks.tails(self.max_log_bytes)):
            if text is not None:
                with contextlib.suppress(OSError):
                    records.write_text(info.adir.log(rank), text)

    def _finish(
        self, info: records.AttemptInfo, ranks: AttemptRanks, status: ExitStatus
    ) -> ExitStatus:
        """Keep the logs and the status, then free everything the attempt holds on Ray."""
        self._copy_logs(info, ranks)
        with contextlib.suppress(OSError):
            records.write_status(info.adir, status)
        ranks.destroy()
        self._handles.pop(info.group, None)
        self._remove_group(info.group)
        return status

    def _destroy(self, info: records.AttemptInfo) -> None:
        """Kill whatever actors and placement group of ``info`` exist."""
        ranks = self._ranks(info)
        if ranks.any_found():
            ranks.kill(self.call_timeout_s)
            ranks.destroy()
        self._handles.pop(info.group, None)
        self._remove_group(info.group)

    def _remove_group(self, name: str) -> None:
        with contextlib.suppress(ValueError, RayError):
            remove_placement_group(get_placement_group(name))


def combine(statuses: list[ExitStatus]) -> ExitStatus:
    """One status for the attempt: success if every rank succeeded, else the first rank that
    failed on its own (before ranks stopped by a signal), its reason prefixed with the rank."""
    failed = [(r, s) for r, s in enumerate(statuses) if not s.succeeded]
    if not failed:
        return ExitStatus(0)
    rank, status = next(((r, s) for r, s in failed if not s.signalled), failed[0])
    if len(statuses) == 1:
        return status
    return ExitStatus(status.exit_code, status.signalled, f"rank {rank}: {status.reason}")
