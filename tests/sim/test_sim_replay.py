"""Same code, same decisions: the twin's scheduling passes equal a live-style replay's.

The reference below is written the way the live control loop drives the scheduler, without an
event heap: at each instant it releases the jobs that ended (in the order they started),
submits the arrivals, and runs a pass when an arrival was accepted or a job ended while others
waited; preempted victims are released and requeued at once (zero grace) and the pass repeats.
Hypothesis draws small random workloads; the twin and the reference must make identical calls
and get identical decisions from their own fresh :class:`Scheduler`.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sim_helpers import jobs_workload, make_twin

from gigawatt.core.catalogue import Catalogue, default_catalogue
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import FleetSpec, uniform_fleet
from gigawatt.core.tiers import Tier
from gigawatt.scheduling.model import JobRequest, Ordering, SchedulingPolicy
from gigawatt.scheduling.scheduler import Scheduler
from gigawatt.sim.recording import PassRecord, pass_record
from gigawatt.sim.workload import TIERS, Restart, RunSettings, Workload


def live_replay(
    w: Workload, fleet: FleetSpec, catalogue: Catalogue, ordering: Ordering
) -> list[PassRecord]:
    """Drive a fresh scheduler through the workload the way the live loop would."""
    sched = Scheduler.for_fleet(fleet, catalogue, SchedulingPolicy(ordering=ordering))
    n = len(w)
    submit = w.submit_s.tolist()
    duration = w.duration_s.tolist()
    interval = w.settings.checkpoint_interval_s
    checkpoint = w.settings.restart is Restart.CHECKPOINT
    kept = [0.0] * n
    running: dict[int, tuple[float, int, float]] = {}  # job -> (end, start order, start)
    queued: set[int] = set()
    order = 0
    passes: list[PassRecord] = []
    k = 0

    def request(i: int) -> JobRequest:
        return JobRequest(
            str(i),
            w.tenants[int(w.tenant[i])],
            TIERS[int(w.tier[i])],
            "H100",
            int(w.gpus[i]),
            submit[i],
            0,
            duration[i] - kept[i],
        )

    while k < n or running:
        t = min([e for e, _, _ in running.values()] + ([submit[k]] if k < n else []))
        want_pass = False
        for _, _, i in sorted((o, e, i) for i, (e, o, _) in running.items() if e == t):
            del running[i]
            sched.release(str(i))
            want_pass = want_pass or bool(queued)
        while k < n and submit[k] == t:
            try:
                sched.submit(request(k))
            except Unschedulable:
                pass
            else:
                queued.add(k)
                want_pass = True
            k += 1
        while want_pass:
            decision = sched.schedule(t)
            passes.append(pass_record(t, decision))
            for start in decision.starts:
                i = int(start.job.job_id)
                queued.discard(i)
                running[i] = (t + duration[i] - kept[i], order, t)
                order += 1
            for p in decision.preemptions:
                i = int(p.job_id)
                _, _, began = running.pop(i)
                done = kept[i] + (t - began)
                kept[i] = math.floor(done / interval) * interval if checkpoint else 0.0
                sched.release(str(i))
                sched.submit(request(i))
                queued.add(i)
            want_pass = bool(decision.preemptions)
    return passes


jobs = st.lists(
    st.tuples(
        st.integers(0, 60).map(float),
        st.integers(1, 40).map(float),
        st.sampled_from([1, 1, 2, 3, 4, 8, 8, 16, 12]),
        st.sampled_from(list(Tier)),
    ),
    min_size=1,
    max_size=30,
)


SPOT_THEN_INTERNAL = [
    (0.0, 30.0, 8, Tier.SPOT),
    (0.0, 30.0, 8, Tier.SPOT),
    (7.0, 5.0, 16, Tier.INTERNAL),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(SPOT_THEN_INTERNAL, 2, Ordering.PRIORITY, Restart.CHECKPOINT)
@given(
    jobs=jobs,
    nodes=st.integers(1, 3),
    ordering=st.sampled_from(list(Ordering)),
    restart=st.sampled_from(list(Restart)),
)
def test_twin_decisions_equal_live_replay(
    jobs: list[tuple[float, float, int, Tier]], nodes: int, ordering: Ordering, restart: Restart
) -> None:
    catalogue = default_catalogue()
    fleet = uniform_fleet(8 * nodes, "H100", catalogue)
    w = jobs_workload(
        sorted(jobs, key=lambda j: j[0]), RunSettings(restart=restart, checkpoint_interval_s=5.0)
    )
    twin, recorder = make_twin(w, fleet, catalogue, ordering=ordering)
    twin.run()
    assert recorder.passes == live_replay(w, fleet, catalogue, ordering)
    if jobs == SPOT_THEN_INTERNAL:
        assert twin.preemptions == 2 and twin.end_s == [37.0, 37.0, 12.0]  # kept 5 s of 7
