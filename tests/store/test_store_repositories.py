"""Repositories against real SQLite and PostgreSQL: constraints the control plane relies on."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gigawatt.billing.ledger import post_usage
from gigawatt.core.errors import Conflict, NotFound
from gigawatt.core.tiers import JobStatus, Tier
from gigawatt.metering.records import UsageRecord
from gigawatt.store.db import make_engine, session_factory, transaction
from gigawatt.store.migrate import downgrade, upgrade
from gigawatt.store.models import GpuAllocationModel, JobModel
from gigawatt.store.repositories import attempts, jobs, lease, tenants, usage

T0 = 1_794_268_800.0  # 2026-11-10 00:00 UTC


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def _job(tenant_id: str, job_id: str = "job_1", gpus: int = 2) -> JobModel:
    return JobModel(
        id=job_id, tenant_id=tenant_id, name="j", command=["true"], env={}, gpus=gpus,
        gpu_type="H100", tier="spot", priority=0, max_runtime_s=None, status="queued",
        reason="", submitted_at=T0, attempts=0, cancel_requested=False, updated_at=T0,
    )  # fmt: skip


def _record(key: str = "job_1:1:0", amount: str = "1.234567") -> UsageRecord:
    return UsageRecord(
        idempotency_key=key, job_id="job_1", attempt=1, tenant="ten_a", gpu_type="H100",
        tier=Tier.SPOT, gpus=2, start=T0, end=T0 + 60, gpu_seconds=120.0, energy_kwh=0.05,
        amount_usd=Decimal(amount), period="2026-11",
    )  # fmt: skip


def test_migrations_create_every_table_and_downgrade_cleanly(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    names = set(inspect(engine).get_table_names())
    assert {"jobs", "attempts", "gpu_allocations", "usage_records", "invoices"} <= names
    downgrade(engine)
    assert "jobs" not in set(inspect(engine).get_table_names())
    engine.dispose()


def test_tenant_names_are_unique(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        tenants.create_tenant(s, "acme", "external", T0)
    with pytest.raises(Conflict), transaction(sessions) as s:
        tenants.create_tenant(s, "acme", "internal", T0)
    with pytest.raises(NotFound), transaction(sessions) as s:
        tenants.get_tenant(s, "ten_missing")


def test_a_gpu_cannot_be_allocated_twice(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        t = tenants.create_tenant(s, "acme", "external", T0)
        a = jobs.insert_job(s, _job(t.id, "job_1"))
        b = jobs.insert_job(s, _job(t.id, "job_2"))
        sites = {"local/h100-0000": "local"}
        attempts.create_attempt(s, a, [("local/h100-0000", 2)], [(0, 1)], sites, T0)
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        b = jobs.get_job(s, "job_2")
        attempts.create_attempt(s, b, [("local/h100-0000", 2)], [(1, 2)], sites, T0)
    with transaction(sessions) as s:
        held = sorted((r.node_id, r.gpu_index, r.job_id) for r in attempts.allocations(s))
        assert held == [("local/h100-0000", 0, "job_1"), ("local/h100-0000", 1, "job_1")]
        attempt_id = attempts.active_attempts(s)[0][0].id
        assert attempts.release(s, attempt_id) == 2
        assert s.query(GpuAllocationModel).count() == 0


def test_terminal_states_are_final(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        t = tenants.create_tenant(s, "acme", "external", T0)
        jobs.insert_job(s, _job(t.id))
        jobs.transition(s, "job_1", JobStatus.STARTING, T0)
        jobs.transition(s, "job_1", JobStatus.RUNNING, T0)
        jobs.transition(s, "job_1", JobStatus.SUCCEEDED, T0)
    for target in JobStatus:
        with pytest.raises(Conflict, match="terminal"), transaction(sessions) as s:
            jobs.transition(s, "job_1", target, T0 + 1)
    with transaction(sessions) as s:
        assert jobs.get_job(s, "job_1").status == "succeeded"
        with pytest.raises(Conflict, match="terminal"):
            jobs.transition(s, "job_1", JobStatus.QUEUED, T0)
        with pytest.raises(NotFound):
            jobs.transition(s, "job_x", JobStatus.QUEUED, T0)


def test_queued_cannot_jump_to_running(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        t = tenants.create_tenant(s, "acme", "external", T0)
        jobs.insert_job(s, _job(t.id))
        with pytest.raises(Conflict, match="cannot go from queued to running"):
            jobs.transition(s, "job_1", JobStatus.RUNNING, T0)


def test_usage_and_ledger_are_written_once_with_exact_money(
    sessions: sessionmaker[Session],
) -> None:
    rec = _record()
    with transaction(sessions) as s:
        assert usage.add_usage(s, [rec], T0) == [rec]
        assert usage.post(s, post_usage(rec, "external"))
    with transaction(sessions) as s:
        assert usage.add_usage(s, [rec, rec], T0) == []
        assert not usage.post(s, post_usage(rec, "external"))
        (row,) = usage.list_usage(s, tenant_id="ten_a")
        assert row.amount_usd == Decimal("1.234567")
        assert usage.to_record(row) == rec
        balances = usage.balances(s)
        assert balances == {
            "receivable:ten_a": Decimal("1.234567"),
            "revenue:spot": Decimal("-1.234567"),
        }
        assert usage.revenue_by_tier(s) == {"spot": Decimal("1.234567")}


def test_usage_key_is_unique_in_the_database(sessions: sessionmaker[Session]) -> None:
    from gigawatt.store.models import UsageRecordModel

    rec = _record()
    with transaction(sessions) as s:
        usage.add_usage(s, [rec], T0)
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        s.add(
            UsageRecordModel(
                idempotency_key=rec.idempotency_key,
                job_id="job_1",
                attempt=1,
                tenant_id="ten_a",
                gpu_type="H100",
                tier="spot",
                gpus=2,
                start_ts=T0,
                end_ts=T0 + 1,
                gpu_seconds=2.0,
                energy_kwh=0.0,
                amount_usd=Decimal("0.1"),
                period="2026-11",
                created_at=T0,
            )
        )
        s.flush()


def test_sub_micro_dollar_amounts_are_refused(sessions: sessionmaker[Session]) -> None:
    rec = _record(amount="0.0000001")
    with pytest.raises(Exception, match="finer than one micro-dollar"), transaction(sessions) as s:
        usage.add_usage(s, [rec], T0)


def test_lease_is_exclusive_until_it_expires(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        first = lease.acquire(s, "a", T0, ttl_s=5)
    assert first.held and first.taken_over
    with transaction(sessions) as s:
        assert not lease.acquire(s, "b", T0 + 1, ttl_s=5).held
        renewed = lease.acquire(s, "a", T0 + 2, ttl_s=5)
    assert renewed.held and not renewed.taken_over
    with transaction(sessions) as s:
        late = lease.acquire(s, "b", T0 + 8, ttl_s=5)
    assert late.held and late.taken_over and late.previous_holder == "a"
    with transaction(sessions) as s:
        dead = lease.acquire(s, "c", T0 + 9, ttl_s=5, holder_is_dead=lambda h: h == "b")
        assert dead.held
        lease.give_up(s, "c")
    with transaction(sessions) as s:
        assert lease.acquire(s, "d", T0 + 9, ttl_s=5).held


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url", "oracle+cx://a/b"])
def test_unsupported_database_urls_are_invalid_input(url: str) -> None:
    from gigawatt.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        make_engine(url)


def test_bare_postgres_schemes_use_psycopg() -> None:
    for scheme in ("postgres", "postgresql"):
        engine = make_engine(f"{scheme}://postgres@127.0.0.1:5432/test")
        assert engine.url.drivername == "postgresql+psycopg"
        engine.dispose()


def test_cancel_of_a_queued_job_does_not_apply_once_it_started(
    sessions: sessionmaker[Session],
) -> None:
    # The API read "queued", the control loop moved it to "starting" meanwhile: the
    # queued-only cancel must not turn a starting job into "cancelled" (it keeps running).
    with transaction(sessions) as s:
        t = tenants.create_tenant(s, "acme", "external", T0)
        jobs.insert_job(s, _job(t.id))
        jobs.transition(s, "job_1", JobStatus.STARTING, T0)
    with pytest.raises(Conflict, match="starting"), transaction(sessions) as s:
        jobs.transition(s, "job_1", JobStatus.CANCELLED, T0, only_from=(JobStatus.QUEUED,))
    with transaction(sessions) as s:
        assert jobs.get_job(s, "job_1").status == "starting"
