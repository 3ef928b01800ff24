"""Scheduler policy: placement, power caps, tiers, preemption, reservations, backfill."""

from __future__ import annotations

import pytest

from gigawatt.core.catalogue import default_catalogue
from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import FleetSpec, NodeGroup, NodeSpec, Site
from gigawatt.core.tiers import Tier
from gigawatt.scheduling import (
    JobRequest,
    Ordering,
    Reservation,
    Scheduler,
    SchedulingPolicy,
)

KW = {"H100": 1.0}


def make(
    nodes: int = 4,
    per_node: int = 8,
    power_kw: float | None = None,
    policy: SchedulingPolicy | None = None,
) -> Scheduler:
    specs = [NodeSpec(f"n{i}", "s", "H100", per_node) for i in range(nodes)]
    cap = float(nodes * per_node) if power_kw is None else power_kw
    return Scheduler(specs, {"s": cap}, KW, policy)


def job(
    jid: str,
    gpus: int,
    tier: Tier = Tier.ON_DEMAND,
    t: float = 0.0,
    tenant: str = "acme",
    runtime: float | None = None,
    priority: int = 0,
) -> JobRequest:
    return JobRequest(jid, tenant, tier, "H100", gpus, t, priority, runtime)


def started(s: Scheduler, now: float = 0.0) -> list[str]:
    return [st.job.job_id for st in s.schedule(now).starts]


def test_single_node_best_fit_and_indices() -> None:
    s = make(nodes=2)
    s.submit(job("a", 6))
    assert started(s) == ["a"]
    s.submit(job("b", 2))
    s.submit(job("c", 4))
    d = s.schedule(1.0)
    by_id = {st.job.job_id: st.placement for st in d.starts}
    # b fills the 2 GPUs left next to a (best fit), c goes to the empty node
    assert by_id["b"] == by_id["b"] and by_id["b"][0][0] == s.placement("a")[0][0]
    assert by_id["c"][0][0] != s.placement("a")[0][0]
    assert s.gpu_indices("a") == ((0, 1, 2, 3, 4, 5),)
    assert s.gpu_indices("b") == ((6, 7),)
    assert s.allocated_gpus() == 12


def test_gang_uses_whole_nodes_all_or_nothing() -> None:
    s = make(nodes=4)
    s.submit(job("small", 1))
    s.submit(job("gang", 32))
    assert started(s) == ["small"]  # gang needs 4 empty nodes, one is partly used
    s.release("small")
    assert started(s, 1.0) == ["gang"]
    assert len(s.placement("gang")) == 4
    assert all(g == 8 for _, g in s.placement("gang"))


@pytest.mark.parametrize(
    ("gpus", "gpu_type", "fragment"),
    [
        (12, "H100", "multiple of 8"),
        (40, "H100", "largest placement"),
        (1, "B200", "no 'B200' GPUs"),
        (0, "H100", "at least 1 GPU"),
    ],
)
def test_never_fitting_jobs_are_refused(gpus: int, gpu_type: str, fragment: str) -> None:
    s = make()
    with pytest.raises(Unschedulable, match=fragment):
        s.submit(JobRequest("x", "t", Tier.SPOT, gpu_type, gpus, 0.0))


def test_site_power_cap_is_never_exceeded() -> None:
    s = make(nodes=4, power_kw=20.0)  # 32 GPUs but power for 20
    for i in range(32):
        s.submit(job(f"j{i}", 1, t=i))
    assert len(started(s)) == 20
    assert s.site_power_kw()["s"] <= 20.0 + 1e-9
    with pytest.raises(Unschedulable, match="largest placement"):
        s.submit(job("big", 24))


def test_tiers_order_the_queue() -> None:
    s = make(nodes=1)
    s.submit(job("fill", 8))
    started(s)
    s.submit(job("spot", 8, Tier.SPOT, t=1))
    s.submit(job("od", 8, Tier.ON_DEMAND, t=2))
    s.submit(job("res", 8, Tier.RESERVED, t=3))
    s.submit(job("int", 8, Tier.INTERNAL, t=4))
    assert [j.job_id for j in s.queued_jobs()] == ["int", "res", "od", "spot"]


def test_internal_preempts_fewest_spot_gpus_after_grace() -> None:
    s = make(nodes=2)
    s.submit(job("od", 8))
    s.submit(job("spot4", 4, Tier.SPOT, t=1))
    s.submit(job("spot2", 2, Tier.SPOT, t=2))
    s.submit(job("spot1", 1, Tier.SPOT, t=3))
    assert sorted(started(s)) == ["od", "spot1", "spot2", "spot4"]
    s.submit(job("int", 2, Tier.INTERNAL, t=5))
    d = s.schedule(6.0)
    # 1 GPU is free on the spot node; freeing 1 more: spot1 is the cheapest victim
    assert [p.job_id for p in d.preemptions] == ["spot1"]
    assert d.starts == []
    assert s.is_running("spot1") and s.draining_for("spot1") == "int"
    # until the victim is released nothing else may take the held node
    s.submit(job("sneak", 1, Tier.SPOT, t=7))
    assert started(s, 7.0) == []
    s.release("spot1")
    assert started(s, 8.0) == ["int"]  # the node is full again: sneak keeps waiting
    assert s.is_queued("sneak")


def test_preemptor_starts_once_victim_released() -> None:
    s = make(nodes=1)
    s.submit(job("spot", 8, Tier.SPOT))
    started(s)
    s.submit(job("int", 4, Tier.INTERNAL, t=1))
    d = s.schedule(1.0)
    assert [(p.job_id, p.for_job_id) for p in d.preemptions] == [("spot", "int")]
    assert s.schedule(2.0).starts == []  # victim still draining: no second preemption either
    s.release("spot")
    # the victim returns to the queue (the caller resubmits it) behind the internal job
    s.submit(job("spot", 8, Tier.SPOT))
    assert started(s, 3.0) == ["int"]
    assert s.is_queued("spot")


def test_on_demand_is_never_preempted() -> None:
    s = make(nodes=1)
    s.submit(job("od", 8))
    started(s)
    s.submit(job("int", 1, Tier.INTERNAL, t=1))
    d = s.schedule(1.0)
    assert d.preemptions == [] and d.starts == []


def test_reservation_guarantees_within_r_only() -> None:
    policy = SchedulingPolicy(reservations=(Reservation("res", "H100", 8),))
    s = make(nodes=2, policy=policy)
    s.submit(job("spot", 16, Tier.SPOT))
    started(s)
    s.submit(job("r1", 8, Tier.RESERVED, t=1, tenant="res"))
    d = s.schedule(1.0)
    assert [p.job_id for p in d.preemptions] == ["spot"]
    # beyond the reservation: no preemption right
    s2 = make(nodes=2, policy=policy)
    s2.submit(job("spot", 16, Tier.SPOT))
    started(s2)
    s2.submit(job("r2", 16, Tier.RESERVED, t=1, tenant="res"))
    assert s2.schedule(1.0).preemptions == []
    s2.submit(job("other", 8, Tier.RESERVED, t=1, tenant="nores"))
    assert s2.schedule(1.0).preemptions == []


def test_internal_floor_limits_firm_external_sales() -> None:
    s = make(nodes=4, policy=SchedulingPolicy(internal_floor_gpus=16))
    for i in range(4):
        s.submit(job(f"od{i}", 8, t=i))
    assert len(started(s)) == 2  # 32 - 16 floor
    s.submit(job("spot", 8, Tier.SPOT, t=9))
    assert started(s, 1.0) == ["spot"]  # spot may use the floor: internal can take it back
    s.submit(job("int", 8, Tier.INTERNAL, t=10))
    assert started(s, 2.0) == ["int"]


def test_external_cap() -> None:
    s = make(nodes=4, policy=SchedulingPolicy(external_cap_gpus=8))
    with pytest.raises(Unschedulable, match="external"):
        s.submit(job("huge", 16, Tier.SPOT))
    s.submit(job("a", 8, Tier.SPOT))
    s.submit(job("b", 8, Tier.SPOT, t=1))
    s.submit(job("i", 8, Tier.INTERNAL, t=2))
    assert sorted(started(s)) == ["a", "i"]


def test_backfill_does_not_delay_the_head_job() -> None:
    s = make(nodes=2)
    s.submit(job("run", 8, runtime=100))
    s.submit(job("run2", 4, runtime=1000))
    started(s)
    # 4 GPUs free. Head needs 8: earliest at t=100 when "run" ends (then 12 free, 4 extra).
    s.submit(job("head", 8, t=1, runtime=50))
    s.submit(job("short", 4, t=2, runtime=60))  # ends at 60 < 100: may backfill
    s.submit(job("long", 4, t=3, runtime=500))  # would use GPUs the head needs... but 4 extra
    s.submit(job("long2", 4, t=4, runtime=500))  # extra now used up: must wait
    got = started(s, 0.0)
    assert got == ["short"]
    s.release("short")
    got = started(s, 60.0)
    assert got == ["long"]
    s.release("run")
    assert started(s, 100.0) == ["head"]


def test_fifo_blocks_at_head_and_sjf_runs_shortest_first() -> None:
    fifo = make(nodes=1, policy=SchedulingPolicy(ordering=Ordering.FIFO))
    fifo.submit(job("a", 6, runtime=10))
    started(fifo)
    fifo.submit(job("big", 4, t=1, runtime=10))
    fifo.submit(job("small", 1, t=2, runtime=10))
    assert started(fifo, 1.0) == []  # head-of-line blocking
    sjf = make(nodes=1, policy=SchedulingPolicy(ordering=Ordering.SJF))
    sjf.submit(job("long", 8, t=0, runtime=100))
    sjf.submit(job("short", 8, t=1, runtime=5))
    assert started(sjf) == ["short"]


def test_for_fleet_uses_catalogue_power() -> None:
    fleet = FleetSpec(
        sites=(
            Site(
                name="a",
                it_power_mw=0.014,
                node_groups=(NodeGroup(name="g", count=2, gpu_type="H100", gpus_per_node=8),),
            ),
        )
    )
    s = Scheduler.for_fleet(fleet, default_catalogue())
    for i in range(16):
        s.submit(JobRequest(f"j{i}", "t", Tier.SPOT, "H100", 1, float(i)))
    assert len(s.schedule(0.0).starts) == 10  # 14 kW / 1.4 kW per H100
    assert s.site_power_cap_kw() == {"a": pytest.approx(14.0)}


def test_requeued_job_is_queued_once() -> None:
    s = make(nodes=1)
    s.submit(job("spot", 8, Tier.SPOT))
    started(s)
    s.submit(job("int", 8, Tier.INTERNAL, t=1))
    s.schedule(1.0)
    s.release("spot")
    s.submit(job("spot", 8, Tier.SPOT))  # back in the queue under the same id
    assert [j.job_id for j in s.queued_jobs()] == ["int", "spot"]
    assert started(s, 2.0) == ["int"]
    assert [j.job_id for j in s.queued_jobs()] == ["spot"]
    s.release("int")
    assert started(s, 3.0) == ["spot"]
    assert s.queued_jobs() == []


def test_pass_after_submissions_only_sees_new_jobs_but_same_decisions() -> None:
    s = make(nodes=1)
    s.submit(job("a", 8, runtime=100))
    started(s)
    s.submit(job("head", 8, t=1, runtime=100))
    s.submit(job("long", 1, t=2, runtime=500))
    assert started(s, 1.0) == []  # full pass: head blocks, long would delay it
    s.submit(job("short", 1, t=3, runtime=10))  # incremental pass: nothing free anyway
    assert started(s, 2.0) == []
    s.release("a")
    assert started(s, 100.0) == ["head"]


def test_a_requests_tag_comes_back_in_its_start_and_from_request() -> None:
    s = make(nodes=1)
    handle = object()
    s.submit(JobRequest("a", "acme", Tier.ON_DEMAND, "H100", 8, 0.0, tag=handle))
    s.submit(job("b", 8, Tier.SPOT, t=1.0))
    assert s.request("a") is not None and s.request("a").tag is handle  # type: ignore[union-attr]
    (start,) = s.schedule(0.0).starts
    assert start.job.job_id == "a" and start.job.tag is handle
    running, queued = s.request("a"), s.request("b")
    assert running is not None and running.tag is handle
    assert queued is not None and queued.job_id == "b" and queued.tag is None
    s.release("a")
    assert s.request("a") is None and s.request("nobody") is None


def test_a_queue_that_empties_leaves_no_stale_entries() -> None:
    """A fleet that never queues: each job starts in the pass after its submission, and the
    queue order and the runtime heap hold nothing once the queue is empty (they would
    otherwise keep up to 64 started jobs, walked by every pass after a release)."""
    s = make(nodes=4)
    for k in range(200):
        s.submit(job(f"j{k}", 1, t=float(k), runtime=10.0))
        assert started(s, float(k)) == [f"j{k}"]
        s.release(f"j{k}")
        assert s.heap_sizes()["order"] == 0 and s.heap_sizes()["runtimes"] == 0
    s.submit(job("big", 32, Tier.INTERNAL, t=300.0, runtime=10.0))
    s.submit(job("queued", 32, t=301.0, runtime=10.0))
    assert started(s, 301.0) == ["big"]
    assert s.heap_sizes()["order"] == 2 and s.heap_sizes()["runtimes"] == 2  # one still queues
    s.release("big")
    assert started(s, 320.0) == ["queued"]
    assert s.heap_sizes()["order"] == 0 and s.heap_sizes()["runtimes"] == 0


def test_a_full_pass_drops_the_stale_entries_it_walks() -> None:
    """Jobs started from a long queue leave stale entries in the queue order; the next full
    pass rewrites the part it walked without them, so later passes (one after every release)
    do not step over them again. Decisions are those of a queue without stale entries."""
    s = make(nodes=4)
    s.submit(job("fill", 32, Tier.INTERNAL, t=0.0, runtime=1000.0))
    assert started(s, 0.0) == ["fill"]
    for k in range(100):
        s.submit(job(f"q{k}", 1, t=1.0 + k, runtime=50.0))
    assert started(s, 200.0) == []
    assert s.heap_sizes()["order"] == 100
    s.release("fill")
    assert started(s, 300.0) == [f"q{k}" for k in range(32)]  # the first 32 by arrival
    assert s.heap_sizes()["order"] == 100  # they start in this pass: stale from now on
    s.submit(job("late", 1, t=400.0, runtime=50.0))
    s.release("q0")  # capacity back: a full pass walks the queue from its front
    assert started(s, 400.0) == ["q32"]
    # the 33 stale entries it walked are gone (q32, started in this pass, included)
    assert s.heap_sizes()["order"] == 100 - 33 + 1
    assert [r.job_id for r in s.queued_jobs()][:3] == ["q33", "q34", "q35"]
