"""The control loop end to end on a real database with FakeBackend and a manual clock."""

from __future__ import annotations

from decimal import Decimal

import pytest
from services_support import assert_billing_invariant, status, submit, tenant

from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unschedulable
from gigawatt.core.tiers import Tier
from gigawatt.services import auth, invoicing, jobs
from gigawatt.services.control import ControlLoop
from gigawatt.services.platform import Platform
from gigawatt.store.db import transaction
from gigawatt.store.repositories import attempts as attempts_repo
from gigawatt.store.repositories import usage as usage_repo


def test_job_runs_succeeds_and_is_billed_once(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=4, tier=Tier.ON_DEMAND)
    assert job.status == "queued"
    report = loop.tick()
    assert report.leader and report.started == [job.id]
    assert status(platform, job.id) == "running"
    spec = backend.spec(job.id, 1)
    assert sum(len(ix) for ix in spec.gpu_indices) == 4
    clock.advance(90)
    loop.tick()
    backend.finish(job.id, 1, 0)
    clock.advance(0.2)
    loop.tick()
    view = jobs.get_job(platform, acme, job.id)
    assert view.status == "succeeded" and view.ended_at == clock.now()
    assert view.attempts[0].status == "succeeded"
    (record,) = invoicing.list_usage(platform, acme)
    assert record.gpus == 4 and record.gpu_seconds == pytest.approx(4 * 90.2)
    assert record.amount_usd == (Decimal("2.60") * Decimal(str(4 * 90.2)) / 3600).quantize(
        Decimal("0.000001")
    )
    assert assert_billing_invariant(platform) == 1
    with transaction(platform.sessions) as s:
        assert attempts_repo.allocations(s) == []
        assert sum(usage_repo.balances(s).values()) == 0
    loop.tick()  # nothing more happens, nothing is billed twice
    assert len(invoicing.list_usage(platform, acme)) == 1


def test_failed_exit_is_failed_with_reason(
    platform: Platform, loop: ControlLoop, backend: FakeBackend
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme)
    loop.tick()
    backend.finish(job.id, 1, 3)
    loop.tick()
    view = jobs.get_job(platform, acme, job.id)
    assert view.status == "failed" and "exit code 3" in view.reason


@pytest.mark.parametrize(
    ("fields", "error", "text"),
    [
        ({"gpus": 24}, Unschedulable, "exceed"),
        ({"gpus": 17}, Unschedulable, "whole nodes"),
        ({"gpus": 12}, Unschedulable, "whole nodes"),
        ({"gpu_type": "B200"}, Unschedulable, "no 'B200' GPUs"),
        ({"gpu_type": "TPU9"}, Unschedulable, "unknown GPU type"),
        ({"tier": Tier.INTERNAL}, Forbidden, "internal tier"),
        ({"tier": Tier.RESERVED}, InvalidInput, "no reservation"),
    ],
)
def test_impossible_jobs_are_refused_at_submit(
    platform: Platform, fields: dict[str, object], error: type[Exception], text: str
) -> None:
    acme = tenant(platform, "acme")
    with pytest.raises(error, match=text):
        submit(platform, acme, **fields)
    assert jobs.list_jobs(platform, auth.ADMIN) == []


def test_admin_cannot_submit_and_tenants_see_only_their_jobs(platform: Platform) -> None:
    a, b = tenant(platform, "a"), tenant(platform, "b")
    with pytest.raises(Forbidden):
        submit(platform, auth.ADMIN)
    job = submit(platform, a)
    with pytest.raises(NotFound):
        jobs.get_job(platform, b, job.id)
    with pytest.raises(NotFound):
        jobs.cancel(platform, b, job.id)
    assert [j.id for j in jobs.list_jobs(platform, b)] == []
    assert [j.id for j in jobs.list_jobs(platform, a)] == [job.id]
    assert [j.id for j in jobs.list_jobs(platform, auth.ADMIN, tenant_id=a.tenant_id)] == [job.id]


def test_cancel_queued_is_immediate_and_final(platform: Platform, loop: ControlLoop) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=8)
    assert jobs.cancel(platform, acme, job.id).status == "cancelled"
    loop.tick()
    assert status(platform, job.id) == "cancelled"
    with pytest.raises(Conflict, match="terminal"):
        jobs.cancel(platform, acme, job.id)
    assert invoicing.list_usage(platform, acme) == []


def test_cancel_running_terminates_then_kills_after_grace(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme, gpus=2, env={"GIGAWATT_FAKE_IGNORE_SIGTERM": "1"})
    loop.tick()
    clock.advance(30)
    view = jobs.cancel(platform, acme, job.id)
    assert view.status == "running" and view.cancel_requested
    loop.tick()
    assert backend.calls_of("terminate") == [(job.id, 1)]
    assert status(platform, job.id) == "running"  # ignores SIGTERM
    clock.advance(0.5)
    loop.tick()
    assert backend.calls_of("kill") == []
    clock.advance(0.6)
    loop.tick()  # grace over: SIGKILL, and the fake dies at once
    assert backend.calls_of("kill") == [(job.id, 1)]
    view = jobs.get_job(platform, acme, job.id)
    assert view.status == "cancelled" and view.attempts[0].status == "cancelled"
    (record,) = invoicing.list_usage(platform, acme)
    assert record.gpu_seconds == pytest.approx(2 * 31.1)
    assert_billing_invariant(platform)


def test_max_runtime_is_enforced(
    platform: Platform, loop: ControlLoop, backend: FakeBackend, clock: ManualClock
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme, max_runtime_s=60)
    loop.tick()
    clock.advance(59)
    loop.tick()
    assert status(platform, job.id) == "running"
    clock.advance(1)
    loop.tick()  # SIGTERM; the fake ends at once
    loop.tick()
    view = jobs.get_job(platform, acme, job.id)
    assert view.status == "failed" and "max_runtime_s=60" in view.reason
    assert_billing_invariant(platform)


def test_logs_come_from_the_backend(
    platform: Platform, loop: ControlLoop, backend: FakeBackend
) -> None:
    acme = tenant(platform, "acme")
    job = submit(platform, acme)
    assert jobs.logs(platform, acme, job.id) == (None, "")
    loop.tick()
    attempt, text = jobs.logs(platform, acme, job.id)
    assert attempt == 1 and "start" in text
    with pytest.raises(InvalidInput):
        jobs.logs(platform, acme, job.id, attempt=7)
