"""What the control loop keeps between ticks: one incremental scheduler and the attempts it runs.

The leader builds a :class:`LiveState` from the database once (on taking the lease, on a fleet
or policy change, after a failed tick) and then feeds it changes: attempts that ended or
started, queued jobs that appeared (submissions, requeues) or left (cancels). Per tick it
answers, in the time of what changed rather than of what runs:

- which attempts to poll (:attr:`LiveState.handles`, for ``Backend.poll_many``);
- which deadlines are due (:meth:`LiveState.due`): the SIGKILL after a grace period, the
  ``max_runtime_s`` limit, the end of an invoice period to bill up to;
- which attempts to heartbeat (:meth:`LiveState.heartbeat_batch`, a bounded batch in turn).

The database stays the source of truth: rows are re-read (in one query per kind of change)
before anything is written, and the ``gpu_allocations`` primary key still forbids double
allocation whatever this memory says.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from gigawatt.backends.base import Handle
from gigawatt.billing.periods import period_bounds, period_of
from gigawatt.core.errors import InvalidInput, Unschedulable
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import JobRequest, SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.services.jobs import job_request
from gigawatt.services.platform import FleetState
from gigawatt.store.models import JobModel
from gigawatt.store.repositories.attempts import ActiveRow

log = logging.getLogger(__name__)

Key = tuple[str, int]

#: Kinds of deadline an active attempt may have.
KILL, RUNTIME, PERIOD = 0, 1, 2

#: At most this many heartbeats are written per tick (all of them when fewer are active; in
#: turn otherwise, so each attempt's heartbeat is at most ``active / this`` ticks old: 25 s
#: with 100,000 attempts at 0.25 s ticks). Each is a row written: on PostgreSQL about 30 µs.
HEARTBEAT_BATCH = 1_000


@dataclass(slots=True)
class LiveAttempt:
    """An attempt holding GPUs, as far as the loop needs to know between ticks."""

    id: int
    job_id: str
    number: int
    handle: Handle | None
    started_at: float
    max_runtime_s: float | None
    stop_reason: str | None
    kill_after: float | None
    killed: bool

    @property
    def key(self) -> Key:
        """``(job_id, attempt)``: how backends name it."""
        return (self.job_id, self.number)


class LiveState:
    """The leader's memory between ticks (see the module docstring)."""

    def __init__(self, sched: Scheduler, fleet: FleetState, policy: SchedulingPolicy) -> None:
        self.sched = sched
        #: the fleet snapshot and policy the scheduler was built for (a change rebuilds)
        self.fleet = fleet
        self.policy = policy
        self.attempts: dict[int, LiveAttempt] = {}
        #: job id -> its active attempt's id
        self.by_job: dict[str, int] = {}
        #: handles of active attempts the backend started, by ``(job_id, attempt)``
        self.handles: dict[Key, Handle] = {}
        self.by_key: dict[Key, int] = {}
        #: active attempts without a recorded handle (launch not recorded: fence and adopt)
        self.unrecorded: set[int] = set()
        #: queued jobs known to this state: in the scheduler's queue, or parked
        self.queued: set[str] = set()
        #: queued jobs not in the scheduler: they wait for nodes that left the fleet
        self.parked: set[str] = set()
        #: jobs this loop put back in the queue since the last queue sync (it queues them)
        self.requeued: set[str] = set()
        #: SQLite: the highest jobs ``rowid`` the last queue sync saw (None: read it all)
        self.queue_mark: int | None = None
        #: SQLite: the jobs ``rowid`` of queued jobs (may hold some no longer queued)
        self.queued_rowid: dict[str, int] = {}
        #: queue syncs so far (every so many is a full read)
        self.syncs = 0
        self._deadlines: list[tuple[float, int, int]] = []
        self._beats: deque[int] = deque()

    # -- attempts ----------------------------------------------------------------------------
    def add(self, row: ActiveRow) -> LiveAttempt:
        """Track an active attempt (its GPUs are already in the scheduler)."""
        live = LiveAttempt(
            id=row.id,
            job_id=row.job_id,
            number=row.attempt,
            handle=None,
            started_at=row.started_at,
            max_runtime_s=None if row.max_runtime_s is None else float(row.max_runtime_s),
            stop_reason=row.stop_reason,
            kill_after=row.kill_after,
            killed=row.killed,
        )
        self.attempts[live.id] = live
        self.by_job[live.job_id] = live.id
        self.by_key[live.key] = live.id
        if row.handle is not None:
            self.set_handle(live.id, Handle(row.job_id, row.attempt, dict(row.handle)))
        else:
            self.unrecorded.add(live.id)
        self._beats.append(live.id)
        if live.kill_after is not None and not live.killed:
            self._push(live.kill_after, live.id, KILL)
        if live.max_runtime_s is not None and live.stop_reason is None:
            self._push(live.started_at + live.max_runtime_s, live.id, RUNTIME)
        self._push(next_boundary(row.metered_until), live.id, PERIOD)
        return live

    def set_handle(self, attempt_id: int, handle: Handle) -> None:
        """The backend started the attempt (or it was adopted): poll it from now on."""
        live = self.attempts.get(attempt_id)
        if live is None:
            return
        live.handle = handle
        self.handles[live.key] = handle
        self.unrecorded.discard(attempt_id)

    def drop(self, attempt_id: int) -> None:
        """The attempt ended: forget it and give its GPUs back to the scheduler."""
        live = self.attempts.pop(attempt_id, None)
        if live is None:
            return
        if self.by_job.get(live.job_id) == attempt_id:
            del self.by_job[live.job_id]
        self.handles.pop(live.key, None)
        self.by_key.pop(live.key, None)
        self.unrecorded.discard(attempt_id)
        self.sched.release(live.job_id)

    def forget_queued(self, job_id: str) -> None:
        """A queued job left the queue other than by starting (cancelled): drop it."""
        if job_id in self.queued:
            self.queued.discard(job_id)
            self.parked.discard(job_id)
            self.sched.cancel(job_id)

    def stopping(self, attempt_id: int, reason: str | None, kill_after: float | None) -> None:
        """Mirror :func:`~gigawatt.services.lifecycle.request_stop` (SIGKILL deadline set)."""
        live = self.attempts.get(attempt_id)
        if live is None:
            return
        live.stop_reason = reason
        if kill_after is not None and live.kill_after is None:
            live.kill_after = kill_after
            self._push(kill_after, attempt_id, KILL)

    def runtime_at(self, attempt_id: int, at: float) -> None:
        """Check ``max_runtime_s`` again at ``at`` (the attempt started later than thought)."""
        if attempt_id in self.attempts:
            self._push(at, attempt_id, RUNTIME)

    def killed(self, attempt_id: int) -> None:
        """SIGKILL was sent."""
        live = self.attempts.get(attempt_id)
        if live is not None:
            live.killed = True

    def metered(self, attempt_id: int, metered_until: float) -> None:
        """The attempt was billed up to ``metered_until``: wait for the next period's end."""
        if attempt_id in self.attempts:
            self._push(next_boundary(metered_until), attempt_id, PERIOD)

    # -- per tick ------------------------------------------------------------------------------
    def due(self, now: float) -> dict[int, list[int]]:
        """Deadlines reached by ``now``: ``{kind: [attempt ids]}`` (each popped once; a
        deadline that no longer applies is dropped)."""
        out: dict[int, list[int]] = {KILL: [], RUNTIME: [], PERIOD: []}
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            at, attempt_id, kind = heapq.heappop(heap)
            live = self.attempts.get(attempt_id)
            if live is None:
                continue
            if kind == KILL and (live.killed or live.kill_after != at):
                continue
            if kind == RUNTIME and live.stop_reason is not None:
                continue
            out[kind].append(attempt_id)
        if len(heap) > 4 * len(self.attempts) + 64:  # entries of attempts that ended
            self._deadlines = [e for e in heap if e[1] in self.attempts]
            heapq.heapify(self._deadlines)
        return out

    def heartbeat_batch(self) -> list[int]:
        """Active attempts to heartbeat this tick: all when at most :data:`HEARTBEAT_BATCH`
        are active, else the next batch in turn."""
        beats, attempts = self._beats, self.attempts
        if len(beats) > 2 * len(attempts) + 64:
            self._beats = beats = deque(a for a in beats if a in attempts)
        out: list[int] = []
        tries = len(beats)
        while beats and len(out) < HEARTBEAT_BATCH and tries > 0:
            tries -= 1
            attempt_id = beats.popleft()
            if attempt_id in attempts:
                out.append(attempt_id)
                beats.append(attempt_id)
        return out

    def sizes(self) -> dict[str, int]:
        """How many entries each structure holds (bounded by what is active; tests)."""
        return {
            "attempts": len(self.attempts),
            "handles": len(self.handles),
            "queued": len(self.queued),
            "deadlines": len(self._deadlines),
            "beats": len(self._beats),
            **self.sched.heap_sizes(),
        }

    def _push(self, at: float, attempt_id: int, kind: int) -> None:
        heapq.heappush(self._deadlines, (at, attempt_id, kind))


def next_boundary(metered_until: float) -> float:
    """The end of the invoice period ``metered_until`` lies in (when to bill up to next)."""
    try:
        return period_bounds(period_of(metered_until))[1]
    except InvalidInput:  # a time outside the calendar the periods cover: never
        return float("inf")


def restore_attempt(sched: Scheduler, fleet: FleetState, row: ActiveRow) -> None:
    """Put an attempt holding GPUs into the scheduler. GPUs on nodes that left the fleet are
    skipped (the attempt is ending: the backend reports ``node_lost``); those on nodes still
    there stay taken."""
    placement = [(str(n), int(g)) for n, g in row.placement]
    indices = row.gpu_indices
    keep = [k for k, (node, _) in enumerate(placement) if node in fleet.nodes]
    if not keep:
        log.debug("job %s: every node of its attempt left the fleet", row.job_id)
        return
    job = JobRequest(
        job_id=row.job_id,
        tenant=row.tenant_id,
        tier=Tier(row.tier),
        gpu_type=row.gpu_type,
        gpus=row.gpus,
        submitted_at=row.submitted_at,
        priority=row.priority,
        max_runtime_s=None if row.max_runtime_s is None else float(row.max_runtime_s),
    )
    try:
        sched.restore_running(
            job,
            tuple(placement[k] for k in keep),
            row.started_at,
            None if indices is None else [indices[k] for k in keep],
            row.preempting_for,
        )
    except (KeyError, ValueError, IndexError):
        log.warning("job %s holds GPUs outside the fleet: %s", row.job_id, row.placement)


def submit_all(state: LiveState, jobs: Iterable[JobModel]) -> list[tuple[JobModel, str]]:
    """Queue ``jobs`` in the scheduler in the order given (submission order); returns the
    jobs it refused with the reason (the caller fails them, or parks them if nodes are away)."""
    refused: list[tuple[JobModel, str]] = []
    for job in jobs:
        state.queued.add(job.id)
        try:
            state.sched.submit(job_request(job))
        except Unschedulable as exc:
            refused.append((job, exc.message))
    return refused
