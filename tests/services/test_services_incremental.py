"""The incremental control loop decides what a from-scratch rebuild decides, and its memory
stays bounded by what runs and waits, not by every job it ever saw."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from services_support import status, submit, tenant

from gigawatt.backends.base import LaunchSpec
from gigawatt.backends.fake import ENV_DURATION, FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import FleetSpec, NodeGroup, NodeSpec, Site
from gigawatt.core.tiers import Tier
from gigawatt.scheduling import JobRequest, Reservation, Scheduler, SchedulingPolicy
from gigawatt.scheduling.model import Decision
from gigawatt.services import jobs
from gigawatt.services.auth import ADMIN
from gigawatt.services.control import ControlLoop
from gigawatt.services.jobs import job_request
from gigawatt.services.platform import Platform
from gigawatt.services.tenants import policy_of
from gigawatt.store.db import transaction
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import jobs as jobs_repo

NODES = [NodeSpec(f"a{i}", "a", "H100", 8) for i in range(4)] + [
    NodeSpec(f"b{i}", "b", "H100", 4) for i in range(2)
]
POWER = {"a": 30.0, "b": 8.0}


def _fleet(nodes: int) -> FleetSpec:
    group = NodeGroup(name="h100", count=nodes, gpu_type="H100", gpus_per_node=8)
    return FleetSpec(sites=(Site(name="s1", it_power_mw=1.0, node_groups=(group,)),))


TERMINAL = ("succeeded", "failed", "cancelled")
POLICY = SchedulingPolicy(reservations=(Reservation("t1", "H100", 8),), internal_floor_gpus=4)

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(list(Tier)),
            st.sampled_from([1, 2, 3, 4, 8, 16]),
            st.sampled_from(["t1", "t2"]),
            st.one_of(st.none(), st.floats(1, 100)),
        ),
        st.tuples(st.just("schedule"), st.floats(0, 30)),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
    ),
    max_size=80,
)


def _rebuilt(inc: Scheduler) -> Scheduler:
    """A fresh scheduler with ``inc``'s allocations and queue, as the loop rebuilt it each tick."""
    fresh = Scheduler(NODES, POWER, {"H100": 1.4}, POLICY)
    for job in inc.running_jobs():
        run = inc._running[job.job_id]  # read-only: the state to rebuild from
        fresh.restore_running(
            job, inc.placement(job.job_id), run.started_at, run.indices, run.draining_for
        )
    for job in inc.queued_jobs():
        fresh.submit(job)
    return fresh


def _summary(decision: Decision) -> tuple[list[str], list[str]]:
    starts = sorted(s.job.job_id for s in decision.starts)
    return starts, sorted({p.for_job_id for p in decision.preemptions})


@settings(max_examples=150, deadline=None)
@given(ops)
def test_incremental_passes_decide_like_a_rebuild(sequence: list[tuple[Any, ...]]) -> None:
    """After any sequence of submissions, passes, releases and cancels, one scheduler kept
    across passes starts the same jobs, and preempts for the same jobs, as one rebuilt from
    its allocations and queue (the control loop's old way)."""
    inc = Scheduler(NODES, POWER, {"H100": 1.4}, POLICY)
    now, n = 0.0, 0
    for op in sequence:
        if op[0] == "submit":
            _, tier, gpus, tenant_name, runtime = op
            n += 1
            job = JobRequest(f"j{n}", tenant_name, tier, "H100", gpus, now, 0, runtime)
            with contextlib.suppress(Unschedulable):
                inc.submit(job)
        elif op[0] == "schedule":
            now += float(op[1])
            fresh = _rebuilt(inc)
            inc.invalidate()  # as the control loop does when time moved on
            assert _summary(inc.schedule(now)) == _summary(fresh.schedule(now))
            assert inc.allocated_gpus() == fresh.allocated_gpus()
        elif op[0] == "release":
            running = sorted(j.job_id for j in inc.running_jobs())
            if running:
                inc.release(running[int(op[1]) % len(running)])
        else:
            queued = [j.job_id for j in inc.queued_jobs()]
            if queued:
                inc.cancel(queued[int(op[1]) % len(queued)])


def _fresh_from_db(platform: Platform) -> Scheduler:
    """A scheduler rebuilt from the database, the way the loop rebuilt it every tick before."""
    with transaction(platform.sessions) as s:
        fresh = platform.scheduler(policy_of(platform, s))
        for attempt, job in attempts_repo.active_attempts(s):
            fresh.restore_running(
                job_request(job),
                tuple((str(n), int(g)) for n, g in attempt.placement),
                attempt.started_at,
                attempt.gpu_indices,
                attempt.preempting_for,
            )
        for job in jobs_repo.queued_jobs(s):
            fresh.submit(job_request(job))
    return fresh


def test_incremental_loop_agrees_with_a_rebuild_from_the_database(
    make_platform: Callable[..., Platform], clock: ManualClock, backend: FakeBackend
) -> None:
    """Random submissions (all tiers, gangs), ends, cancels, preemptions with a grace period
    and clock steps through the incremental loop. After every tick the scheduler it keeps
    holds exactly the allocations and queue in the database, and a scheduler rebuilt from the
    database finds nothing more to start or preempt at that time (the incremental tick
    decided what a rebuild would)."""
    platform = make_platform(fleet=_fleet(4))
    loop = ControlLoop(platform, "loop")
    ext, own = tenant(platform, "ext"), tenant(platform, "own", "internal")
    rng = random.Random(7)
    ids: list[str] = []
    for step in range(60):
        for _ in range(rng.randrange(4)):
            tier = rng.choice([Tier.SPOT, Tier.SPOT, Tier.ON_DEMAND, Tier.INTERNAL])
            who = own if tier is Tier.INTERNAL else ext
            gpus = rng.choice([1, 2, 4, 8, 16])
            runtime = rng.choice([None, 60, 600])
            ids.append(submit(platform, who, tier=tier, gpus=gpus, max_runtime_s=runtime).id)
            clock.advance(0.001)  # distinct submission times, as on a wall clock
        running = [j for j in ids if status(platform, j) == "running"]
        for job_id in rng.sample(running, min(len(running), rng.randrange(3))):
            backend.finish(job_id, len(jobs.get_job(platform, ADMIN, job_id).attempts))
        if ids and rng.random() < 0.2:
            victim = rng.choice(ids)
            if status(platform, victim) not in TERMINAL:
                jobs.cancel(platform, ADMIN, victim)
        clock.advance(rng.choice([0.5, 5.0, 30.0, 120.0]))
        loop.tick()
        live = loop.live
        assert live is not None
        fresh = _fresh_from_db(platform)
        mine = {j.job_id: live.sched.placement(j.job_id) for j in live.sched.running_jobs()}
        assert mine == {j.job_id: fresh.placement(j.job_id) for j in fresh.running_jobs()}, step
        assert {j.job_id for j in live.sched.queued_jobs()} == {
            j.job_id for j in fresh.queued_jobs()
        }
        # A waiting preemptor holds every node of its plan, also those already free; the
        # database keeps only its victims (their nodes are held again by a rebuild), so the
        # rebuild gets the same holds (node indices agree: same fleet, same order).
        fresh.cap.held.update(live.sched.cap.held)
        decision = fresh.schedule(clock.now())
        assert decision.starts == [] and decision.preemptions == [], step
    assert {status(platform, j) for j in ids} & {"running", "succeeded"}


def test_memory_stays_bounded_after_churn(
    make_platform: Callable[..., Platform], clock: ManualClock
) -> None:
    """Hundreds of jobs start and end with nothing queued: the scheduler's heaps, the loop's
    deadlines and heartbeat turn, and the fake backend hold entries for what runs, not for
    every job ever seen."""
    backend = FakeBackend(clock, max_ended=20)
    platform = make_platform(backend_=backend)
    loop = ControlLoop(platform, "loop")
    ext = tenant(platform, "ext")
    for i in range(400):
        submit(
            platform,
            ext,
            name=f"j{i}",
            gpus=1 + i % 2,
            max_runtime_s=600,
            env={ENV_DURATION: str(1 + i % 5)},
        )
        clock.advance(1.0)
        loop.tick()
    live = loop.live
    assert live is not None
    running = len(live.attempts)
    assert 0 < running <= 16
    sizes = live.sizes()
    assert live.queued == set()
    assert sizes["ends"] <= 2 * running + 64
    assert sizes["runtimes"] <= 64
    assert sizes["order"] <= 64
    assert sizes["deadlines"] <= 4 * running + 64 + 3 * running
    assert sizes["beats"] <= 2 * running + 64
    assert len(backend._attempts) <= 20 + running + 1
    assert len(backend._unreported) <= running


def test_fake_backend_reports_each_end_once_and_forgets_old_ones(clock: ManualClock) -> None:
    """``poll_many`` (what the loop calls each tick) reports every attempt that ended since the
    last call — by its duration, SIGTERM, or lost — once, among the handles asked about; ended
    attempts reported beyond ``max_ended`` are forgotten (then polled as lost)."""
    backend = FakeBackend(clock, max_ended=2)
    handles = {}
    for n, env in enumerate(({ENV_DURATION: "5"}, {}, {}, {})):
        spec = LaunchSpec(f"j{n}", 1, ("true",), env, (("n", 1),), ((n,),), "H100", None, "t")
        handles[(f"j{n}", 1)] = backend.start(spec)
    assert backend.poll_many(handles) == {}
    clock.advance(5)
    backend.terminate(handles[("j1", 1)])
    backend.lose("j2", 1)
    ended = backend.poll_many(handles)
    assert sorted(ended) == [("j0", 1), ("j1", 1), ("j2", 1)]
    assert ended[("j0", 1)].exit_code == 0 and ended[("j1", 1)].exit_code == -15
    assert ended[("j2", 1)].reason == "lost"
    assert backend.poll_many(handles) == {}  # each end reported once
    backend.finish("j3", 1)
    assert backend.poll_many({("j3", 1): handles[("j3", 1)]}) == {("j3", 1): ended[("j0", 1)]}
    assert backend.poll(handles[("j0", 1)]) is not None
    assert len(backend._attempts) == 2  # j0 forgotten (oldest of three reported), j2 lost
