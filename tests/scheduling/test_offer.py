"""Scheduler.offer: a submission that starts at once when nothing else waits, deciding exactly
what submit followed by a pass over that job alone would."""

from __future__ import annotations

import random

import pytest

from gigawatt.core.errors import Unschedulable
from gigawatt.core.fleet import NodeSpec
from gigawatt.core.tiers import Tier
from gigawatt.scheduling import JobRequest, Scheduler, SchedulingPolicy
from gigawatt.scheduling.model import Ordering

TIERS = (Tier.INTERNAL, Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT)


def make(policy: SchedulingPolicy | None = None, power_kw: float = 40.0) -> Scheduler:
    nodes = [NodeSpec(f"n{i}", "s", "H100", 8) for i in range(6)]
    return Scheduler(nodes, {"s": power_kw}, {"H100": 1.0}, policy)


def job(jid: str, gpus: int, tier: Tier = Tier.ON_DEMAND, t: float = 0.0) -> JobRequest:
    return JobRequest(jid, "acme", tier, "H100", gpus, t, 0, 100.0)


def test_an_offer_on_an_idle_fleet_starts_the_job() -> None:
    s = make()
    start = s.offer(job("a", 4), 0.0)
    assert start is not None and start.job.job_id == "a"
    assert s.is_running("a") and not s.queued_jobs()
    assert s.schedule(0.0).starts == []  # nothing left for the pass


def test_an_offer_behind_a_queue_waits_for_the_pass() -> None:
    s = make(power_kw=48.0)
    s.submit(job("big", 48))
    assert [st.job.job_id for st in s.schedule(0.0).starts] == ["big"]
    s.submit(job("head", 8, t=1.0))  # cannot fit: it queues
    assert s.schedule(1.0).starts == []
    assert s.offer(job("small", 1, t=2.0), 2.0) is None  # another job waits: no shortcut
    assert [j.job_id for j in s.queued_jobs()] == ["head", "small"]


def test_an_offer_that_cannot_be_placed_is_queued() -> None:
    s = make(power_kw=48.0)
    s.submit(job("big", 48))
    s.schedule(0.0)
    assert s.offer(job("late", 8, Tier.SPOT, t=1.0), 1.0) is None
    assert [j.job_id for j in s.queued_jobs()] == ["late"]
    with pytest.raises(Unschedulable):
        s.offer(job("huge", 9), 2.0)  # refused as by submit (9 GPUs on 8-GPU nodes)
    with pytest.raises(ValueError):
        s.offer(job("big", 1), 2.0)  # already running


@pytest.mark.parametrize("ordering", list(Ordering))
@pytest.mark.parametrize("seed", range(6))
def test_offers_decide_as_submit_then_a_pass(ordering: Ordering, seed: int) -> None:
    """Random arrivals, ends and cancels on a small power-capped fleet: one scheduler gets
    each lone arrival through offer, the other through submit and schedule; every decision
    and the placements they leave are the same."""
    rng = random.Random(seed)
    policy = SchedulingPolicy(ordering=ordering)
    a, b = make(policy), make(policy)
    running: list[str] = []
    offered_starts = 0
    for step in range(400):
        now = float(step)
        arrivals = [
            job(f"j{step}.{k}", rng.choice((1, 2, 4, 8, 16)), rng.choice(TIERS), now)
            for k in range(rng.choice((0, 1, 1, 1, 2)))
        ]
        for victim in list(running):
            if rng.random() < 0.25:
                running.remove(victim)
                a.release(victim)
                b.release(victim)
        queued = [j.job_id for j in a.queued_jobs()]
        if queued and rng.random() < 0.1:
            gone = rng.choice(queued)
            assert a.cancel(gone) == b.cancel(gone)
        decided_a: list[tuple[str, object]] = []
        if len(arrivals) == 1:
            start = a.offer(arrivals[0], now)
            if start is not None:
                offered_starts += 1
                decided_a.append((start.job.job_id, start.placement))
        else:
            for j in arrivals:
                a.submit(j)
        for j in arrivals:
            b.submit(j)
        da, db = a.schedule(now), b.schedule(now)
        decided_a += [(st.job.job_id, st.placement) for st in da.starts]
        decided_b = [(st.job.job_id, st.placement) for st in db.starts]
        assert decided_a == decided_b, step
        assert [(p.job_id, p.for_job_id) for p in da.preemptions] == [
            (p.job_id, p.for_job_id) for p in db.preemptions
        ]
        for victim, _ in [(p.job_id, p.for_job_id) for p in db.preemptions]:
            running.remove(victim)
            a.release(victim)
            b.release(victim)
        running += [jid for jid, _ in decided_b]
        assert [j.job_id for j in a.queued_jobs()] == [j.job_id for j in b.queued_jobs()]
        assert sorted(a.running_jobs(), key=lambda r: r.job_id) == sorted(
            b.running_jobs(), key=lambda r: r.job_id
        )
    assert offered_starts > 10  # the shortcut was taken, not only the fallback
