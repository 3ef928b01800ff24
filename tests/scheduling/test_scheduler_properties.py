"""Property test: whatever the sequence of submissions, passes, releases and cancels, the
scheduler never double-allocates a GPU, never exceeds a site's power, and loses no job."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling import JobRequest, Reservation, Scheduler, SchedulingPolicy

NODES = [NodeSpec(f"a{i}", "a", "H100", 8) for i in range(3)] + [
    NodeSpec(f"b{i}", "b", "H100", 4) for i in range(2)
]
POWER = {"a": 20.0, "b": 8.0}

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(list(Tier)),
            st.sampled_from([1, 2, 3, 4, 8, 16, 24, 5]),
            st.sampled_from(["t1", "t2"]),
            st.one_of(st.none(), st.floats(1, 100)),
        ),
        st.tuples(st.just("schedule")),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
    ),
    max_size=60,
)


def _check(s: Scheduler, known: set[str], finished: set[str]) -> None:
    used: set[tuple[str, int]] = set()
    by_site: dict[str, float] = {"a": 0.0, "b": 0.0}
    for job in s.running_jobs():
        placement = s.placement(job.job_id)
        assert sum(g for _, g in placement) == job.gpus
        for (node_id, _), idx in zip(placement, s.gpu_indices(job.job_id), strict=True):
            for i in idx:
                assert (node_id, i) not in used, "GPU allocated twice"
                used.add((node_id, i))
            by_site[node_id[0]] += len(idx) * 1.0
    for site, kw in by_site.items():
        assert kw <= POWER[site] + 1e-9
        assert abs(s.site_power_kw()[site] - kw) < 1e-6
    assert s.allocated_gpus() == len(used)
    spot: dict[str, int] = {}
    for job in s.running_jobs():
        if job.tier is Tier.SPOT and s.draining_for(job.job_id) is None:
            for node_id, g in s.placement(job.job_id):
                spot[node_id] = spot.get(node_id, 0) + g
    for i, node_id in enumerate(s.cap.node_ids):
        assert s.cap.node_spot[i] == spot.get(node_id, 0), "preemptible index out of date"
    queued = {j.job_id for j in s.queued_jobs()}
    running = {j.job_id for j in s.running_jobs()}
    assert not queued & running
    assert queued | running | finished == known


@settings(max_examples=150, deadline=None)
@given(ops)
def test_invariants_hold_for_any_sequence(sequence: list[tuple[object, ...]]) -> None:
    policy = SchedulingPolicy(reservations=(Reservation("t1", "H100", 8),), internal_floor_gpus=4)
    s = Scheduler(NODES, POWER, {"H100": 1.0}, policy)
    known: set[str] = set()
    finished: set[str] = set()
    now = 0.0
    ids: list[str] = []
    for op in sequence:
        now += 1.0
        if op[0] == "submit":
            _, tier, gpus, tenant, runtime = op
            jid = f"j{len(ids)}"
            ids.append(jid)
            job = JobRequest(jid, str(tenant), Tier(str(tier)), "H100", int(gpus), now, 0, runtime)  # type: ignore[arg-type]
            try:
                s.submit(job)
            except Unschedulable:
                continue
            known.add(jid)
        elif op[0] == "schedule":
            d = s.schedule(now)
            for p in d.preemptions:
                victim = next(j for j in s.running_jobs() if j.job_id == p.job_id)
                assert victim.tier is Tier.SPOT
                # zero grace: the victim stops and returns to the queue
                s.release(p.job_id)
                s.submit(victim)
        elif ids:
            jid = ids[int(op[1]) % len(ids)]  # type: ignore[call-overload]
            if op[0] == "release" and s.is_running(jid):
                s.release(jid)
                finished.add(jid)
            elif op[0] == "cancel" and s.cancel(jid):
                finished.add(jid)
        _check(s, known, finished)
