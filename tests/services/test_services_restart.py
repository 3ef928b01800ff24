"""Restart safety, invoice-period boundaries, invoices, several loops on one database."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from decimal import Decimal

import pytest
from services_support import assert_billing_invariant, status, submit, tenant

from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.services import invoicing, jobs
from gigawatt.services.auth import ADMIN
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform


def test_restart_adopts_a_live_job_and_bills_it_in_full(
    platform: Platform, backend: FakeBackend, clock: ManualClock
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=2)
    ControlLoop(platform, "old").tick()
    clock.advance(10)
    # the old loop dies without resigning; its lease expires
    clock.advance(platform.settings.lease_ttl_s + 1)
    new = ControlLoop(platform, "new")
    assert new.tick().leader
    assert backend.calls_of("adopt") == [(job.id, 1)]
    assert status(platform, job.id) == "running"
    clock.advance(5)
    backend.finish(job.id, 1)
    new.tick()
    assert status(platform, job.id) == "succeeded"
    (usage,) = invoicing.list_usage(platform, acme)
    assert usage.gpu_seconds == pytest.approx(2 * (10 + platform.settings.lease_ttl_s + 1 + 5))
    assert_billing_invariant(platform)


def test_restart_bills_a_lost_job_up_to_its_last_heartbeat(
    make_platform: Callable[..., Platform], clock: ManualClock
) -> None:
    first = make_platform()
    acme = tenant(first, "acme")
    job = submit(first, acme, gpus=4)
    old = ControlLoop(first, "old")
    old.tick()
    clock.advance(20)
    old.tick()  # last heartbeat at +20
    clock.advance(100)  # server down
    second = make_platform(backend_=FakeBackend(clock))  # the processes are gone
    ControlLoop(second, "new").tick()
    view = jobs.get_job(second, acme, job.id)
    assert view.status == "failed" and view.reason.startswith("lost")
    assert view.attempts[0].ended_at == view.attempts[0].started_at + 20
    (usage,) = invoicing.list_usage(second, acme)
    assert usage.gpu_seconds == pytest.approx(4 * 20)
    assert_billing_invariant(second)
    ControlLoop(second, "again").tick()  # a second reconcile bills nothing more
    assert len(invoicing.list_usage(second, acme)) == 1


def test_only_one_loop_leads_at_a_time(
    platform: Platform, backend: FakeBackend, clock: ManualClock
) -> None:
    a, b = ControlLoop(platform, "a"), ControlLoop(platform, "b")
    acme = tenant(platform, "acme")
    jobs_ = [submit(platform, acme, gpus=8) for _ in range(3)]
    assert a.tick().leader
    assert not b.tick().leader
    assert sorted(status(platform, j.id) for j in jobs_) == ["queued", "running", "running"]
    a.resign()
    assert b.tick().leader
    assert len(backend.calls_of("start")) == 2


def test_running_job_is_split_at_the_month_boundary(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    boundary = float(calendar.timegm((2026, 12, 1, 0, 0, 0)))
    clock.set(boundary - 60)
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=2)
    loop.tick()
    clock.advance(90)
    loop.tick()
    (first,) = invoicing.list_usage(platform, acme)
    assert (first.period, first.end, first.gpu_seconds) == ("2026-11", boundary, 120.0)
    closed = invoicing.close_period(platform, "2026-11")
    assert closed.created and closed.invoices[0].total_usd > 0
    clock.advance(30)
    backend.finish(job.id, 1)
    loop.tick()
    usage = invoicing.list_usage(platform, acme)
    assert [(u.period, u.gpu_seconds) for u in usage] == [("2026-11", 120.0), ("2026-12", 120.0)]
    assert_billing_invariant(platform)
    assert invoicing.close_period(platform, "2026-11").created == ()


@pytest.mark.timeout(30)
def test_clock_stepping_back_across_a_month_boundary_meters_nothing_more(
    platform: Platform, loop: ControlLoop, clock: ManualClock
) -> None:
    from gigawatt.services.accounting import meter_period_boundaries
    from gigawatt.store.db import transaction
    from gigawatt.store.repositories import attempts as attempts_repo

    boundary = float(calendar.timegm((2026, 12, 1, 0, 0, 0)))
    clock.set(boundary - 60)
    acme = tenant(platform, "acme")
    submit(platform, acme, gpus=1)
    loop.tick()
    clock.advance(61)
    loop.tick()  # split at the boundary: metered up to 2026-12-01 00:00
    with transaction(platform.sessions) as s:
        ((attempt, job),) = attempts_repo.active_attempts(s)
        assert attempt.metered_until == boundary
        # an NTP step puts "now" back in November: nothing to meter, and no endless loop
        meter_period_boundaries(platform, s, attempt, job, boundary - 5)
        assert attempt.metered_until == boundary
    assert [u.gpu_seconds for u in invoicing.list_usage(platform, acme)] == [60.0]


def test_closing_an_ended_period_before_the_loop_splits_includes_running_jobs(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    boundary = float(calendar.timegm((2026, 12, 1, 0, 0, 0)))
    clock.set(boundary - 60)
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=2)
    loop.tick()
    clock.advance(90)  # past midnight, and the control loop has not ticked since
    closed = invoicing.close_period(platform, "2026-11")
    (invoice,) = closed.invoices
    assert [line.quantity for line in invoice.lines] == [Decimal("0.033333")]  # 120 GPU-s
    loop.tick()
    clock.advance(30)
    backend.finish(job.id, 1)
    loop.tick()
    usage = invoicing.list_usage(platform, acme)
    assert [(u.period, u.gpu_seconds) for u in usage] == [("2026-11", 120.0), ("2026-12", 120.0)]
    assert_billing_invariant(platform)


def test_closing_a_period_twice_changes_nothing(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    a, b = tenant(platform, "a"), tenant(platform, "b", "internal")
    ja = submit(platform, a, gpus=1, tier=Tier.ON_DEMAND)
    jb = submit(platform, b, gpus=2, tier=Tier.INTERNAL)
    loop.tick()
    clock.advance(3600)
    backend.finish(ja.id, 1)
    backend.finish(jb.id, 1)
    loop.tick()
    first = invoicing.close_period(platform)
    assert len(first.created) == 2
    again = invoicing.close_period(platform)
    assert again.created == () and again.invoices == first.invoices
    (inv_a,) = invoicing.list_invoices(platform, a)
    assert inv_a.total_usd == Decimal("2.60")
    assert [(line.gpu_type, line.tier) for line in inv_a.lines] == [("H100", "on_demand")]
    assert invoicing.get_invoice(platform, ADMIN, inv_a.id) == inv_a
    from gigawatt.core.errors import NotFound

    with pytest.raises(NotFound):
        invoicing.get_invoice(platform, b, inv_a.id)
    with pytest.raises(InvalidInput):
        invoicing.close_period(platform, "2099-01")
    with pytest.raises(InvalidInput):
        invoicing.close_period(platform, "2026-13")


def test_closing_the_open_period_meters_running_jobs_first(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=1, tier=Tier.ON_DEMAND)
    loop.tick()
    clock.advance(1800)
    result = invoicing.close_period(platform)
    (inv,) = result.invoices
    assert inv.total_usd == Decimal("1.30")
    clock.advance(1800)
    backend.finish(job.id, 1)
    loop.tick()
    later = invoicing.close_period(platform)
    assert len(later.created) == 1
    assert [i.sequence for i in later.invoices] == [1, 2]
    assert_billing_invariant(platform)
