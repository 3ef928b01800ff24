"""Preemption of spot work, reservations and the reserved-preemption credit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from services_support import assert_billing_invariant, status, submit, tenant

from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.tiers import JobStatus, Tier
from gigawatt.services import invoicing, jobs, tenants
from gigawatt.services.auth import ADMIN
from gigawatt.services.control import ControlLoop
from gigawatt.services.lifecycle import PREEMPT, finish_attempt, outcome_of, request_stop
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import usage as usage_repo


def test_internal_work_preempts_spot_which_is_requeued(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    ext, own = tenant(platform, "ext"), tenant(platform, "own", "internal")
    spot = [
        submit(platform, ext, gpus=8, env={"GIGAWATT_FAKE_IGNORE_SIGTERM": "1"}) for _ in range(2)
    ]
    loop.tick()
    assert all(status(platform, j.id) == "running" for j in spot)
    clock.advance(100)
    internal = submit(platform, own, gpus=8, tier=Tier.INTERNAL)
    report = loop.tick()
    assert len(report.preempted) == 1
    victim = report.preempted[0]
    assert status(platform, victim) == "preempted"
    assert backend.calls_of("terminate") == [(victim, 1)]
    assert status(platform, internal.id) == "queued"  # waits for the grace period
    clock.advance(1.0)
    loop.tick()  # SIGKILL: the victim ends, its GPUs are released
    assert status(platform, victim) == "queued"
    view = jobs.get_job(platform, ext, victim)
    assert view.attempts[0].status == "preempted" and "preempted for job" in view.reason
    loop.tick()
    assert status(platform, internal.id) == "running"
    other = next(j.id for j in spot if j.id != victim)
    assert status(platform, other) == "running"
    usage = invoicing.list_usage(platform, ext, job_id=victim)
    assert [u.gpu_seconds for u in usage] == [pytest.approx(8 * 101)]
    assert_billing_invariant(platform)
    # when the internal job ends, the spot job runs again as attempt 2
    backend.finish(internal.id, 1)
    loop.tick()
    loop.tick()
    assert status(platform, victim) == "running"
    assert [a.attempt for a in jobs.get_job(platform, ext, victim).attempts] == [1, 2]


def test_on_demand_is_never_preempted(
    platform: Platform, loop: ControlLoop, backend: FakeBackend
) -> None:
    ext, own = tenant(platform, "ext"), tenant(platform, "own", "internal")
    od = [submit(platform, ext, gpus=8, tier=Tier.ON_DEMAND) for _ in range(2)]
    loop.tick()
    internal = submit(platform, own, gpus=8, tier=Tier.INTERNAL)
    for _ in range(3):
        assert loop.tick().preempted == []
    assert status(platform, internal.id) == "queued"
    assert all(status(platform, j.id) == "running" for j in od)
    assert backend.calls_of("terminate") == []


def test_reservation_is_honoured_and_may_preempt_spot(
    platform: Platform, loop: ControlLoop, clock: ManualClock
) -> None:
    buyer, other = tenant(platform, "buyer"), tenant(platform, "other")
    res = tenants.create_reservation(platform, buyer.tenant_id or "", "h100", 8)
    assert res.gpu_type == "H100" and res.gpus == 8
    assert [r.id for r in tenants.list_reservations(platform, buyer.tenant_id)] == [res.id]
    spot = [submit(platform, other, gpus=8) for _ in range(2)]
    loop.tick()
    reserved = submit(platform, buyer, gpus=8, tier=Tier.RESERVED)
    assert loop.tick().preempted != []
    clock.advance(1.1)
    loop.tick()
    loop.tick()
    assert status(platform, reserved.id) == "running"
    assert sorted(status(platform, j.id) for j in spot) == ["queued", "running"]


def test_reservation_validation(platform: Platform) -> None:
    from gigawatt.core.errors import InvalidInput, NotFound

    buyer, own = tenant(platform, "buyer"), tenant(platform, "own", "internal")
    with pytest.raises(InvalidInput, match="unknown GPU type"):
        tenants.create_reservation(platform, buyer.tenant_id or "", "XYZ", 1)
    with pytest.raises(InvalidInput, match="of the fleet's 16"):
        tenants.create_reservation(platform, buyer.tenant_id or "", "H100", 17)
    with pytest.raises(InvalidInput, match="external"):
        tenants.create_reservation(platform, own.tenant_id or "", "H100", 1)
    with pytest.raises(NotFound):
        tenants.create_reservation(platform, "ten_nope", "H100", 1)


def test_preempted_reserved_attempt_earns_a_credit_once(
    platform: Platform, loop: ControlLoop, clock: ManualClock
) -> None:
    buyer = tenant(platform, "buyer")
    tenants.create_reservation(platform, buyer.tenant_id or "", "H100", 8)
    job = submit(platform, buyer, gpus=8, tier=Tier.RESERVED)
    loop.tick()
    clock.advance(3600)
    # The live policy never preempts reserved work; exercise the credit rule directly.
    with transaction(platform.sessions) as s:
        ((attempt, row),) = attempts_repo.active_attempts(s)
        request_stop(platform, s, attempt, PREEMPT, clock.now(), preempting_for="job_x")
        finish_attempt(platform, s, attempt, row, clock.now(), outcome_of(attempt, row, None))
    assert status(platform, job.id) == JobStatus.QUEUED.value
    billed = Decimal("2.35") * 8
    with transaction(platform.sessions) as s:
        balances = usage_repo.balances(s)
    assert balances[f"receivable:{buyer.tenant_id}"] == billed - (billed + Decimal("2.35") * 8 / 10)
    assert balances["credits:reserved"] == billed + Decimal("1.88")
    result = invoicing.close_period(platform)
    (invoice,) = [i for i in result.invoices if i.tenant_id == buyer.tenant_id]
    assert invoice.subtotal_usd == Decimal("18.80")
    assert invoice.credits_usd == Decimal("20.68")
    assert invoice.total_usd == Decimal("-1.88")
    assert [line.kind for line in invoice.lines] == ["gpu", "credit"]
    assert invoicing.list_invoices(platform, ADMIN, tenant_id=buyer.tenant_id)[0].id == invoice.id
