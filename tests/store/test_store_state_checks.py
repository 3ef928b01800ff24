"""The state migration on SQLite and PostgreSQL: an existing 0001 database (with running work
in it) upgrades with its rows intact, and the database itself refuses a state string that is
not one of its enum's values."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gigawatt.core.states import AttemptStatus, DeploymentStatus, ReplicaStatus
from gigawatt.core.tiers import JobStatus
from gigawatt.store.db import make_engine, session_factory, transaction
from gigawatt.store.migrate import downgrade, upgrade
from gigawatt.store.models import JobModel, TenantModel
from gigawatt.store.repositories import attempts

T0 = 1_794_268_800.0


def _seed_0001(engine: Engine) -> None:
    """A tenant with a running job on two GPUs, written against the 0001 schema."""
    with transaction(session_factory(engine)) as s:
        s.add(TenantModel(id="ten_a", name="a", kind="external", created_at=T0))
        s.flush()
        job = JobModel(
            id="job_1", tenant_id="ten_a", name="j", command=["true"], env={}, gpus=2,
            gpu_type="H100", tier="spot", priority=0, max_runtime_s=None,
            status=JobStatus.RUNNING.value, reason="", submitted_at=T0, attempts=0,
            cancel_requested=False, updated_at=T0,
        )  # fmt: skip
        s.add(job)
        s.flush()
        attempts.create_attempt(s, job, [("n1", 2)], [[0, 1]], {"n1": "s1"}, T0)
        s.execute(
            text(
                "INSERT INTO api_keys (id, tenant_id, is_admin, key_hash, created_at) "
                "VALUES ('k1', 'ten_a', :f, 'h', :t)"
            ),
            {"f": False, "t": T0},
        )


def _deployment(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO inference_models (id, price_input_per_million, "
                "price_output_per_million, created_at) VALUES ('m', 1, 1, :t)"
            ),
            {"t": T0},
        )
        c.execute(
            text(
                "INSERT INTO inference_deployments (id, model_id, tenant_id, gpus, gpu_type, "
                "tier, replicas, max_batch_size, status, register_url, replica_token, failures, "
                "reason, created_at) VALUES ('dep_1', 'm', 'ten_a', 1, 'H100', 'on_demand', 1, "
                "8, :s, 'http://x', 'tok', 0, '', :t)"
            ),
            {"s": DeploymentStatus.ACTIVE.value, "t": T0},
        )
        c.execute(
            text(
                "INSERT INTO inference_replicas (id, deployment_id, job_id, status, created_at, "
                "updated_at) VALUES ('rep_1', 'dep_1', 'job_1', :s, :t, :t)"
            ),
            {"s": ReplicaStatus.STARTING.value, "t": T0},
        )


BAD_UPDATES = (
    "UPDATE jobs SET status = 'bogus'",
    "UPDATE attempts SET status = 'RUNNING'",
    "UPDATE inference_deployments SET status = 'paused'",
    "UPDATE inference_replicas SET status = ''",
)


def test_an_existing_0001_database_upgrades_and_checks_every_state(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    _seed_0001(engine)
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM jobs")).scalar_one() == "running"
        assert c.execute(text("SELECT status FROM attempts")).scalar_one() == "starting"
        assert c.execute(text("SELECT count(*) FROM gpu_allocations")).scalar_one() == 2
        row = c.execute(text("SELECT name, expires_at, scopes FROM api_keys")).one()
        assert tuple(row) == ("", None, None)
    indexes = {i["name"] for i in inspect(engine).get_indexes("jobs")}
    assert "ix_jobs_tenant_submitted" in indexes  # the rebuilt table kept its indexes
    _deployment(engine)
    for statement in BAD_UPDATES:
        with pytest.raises(IntegrityError), engine.begin() as c:
            c.execute(text(statement))
    with engine.begin() as c:  # every enum value is accepted
        for status in AttemptStatus:
            c.execute(text("UPDATE attempts SET status = :s"), {"s": status.value})
        for job_status in JobStatus:
            c.execute(text("UPDATE jobs SET status = :s"), {"s": job_status.value})
        for dep_status in DeploymentStatus:
            c.execute(text("UPDATE inference_deployments SET status = :s"), {"s": dep_status})
        for rep_status in ReplicaStatus:
            c.execute(text("UPDATE inference_replicas SET status = :s"), {"s": rep_status})
    engine.dispose()


def test_the_orm_cannot_write_a_bad_state_either(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    _seed_0001(engine)
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        job = s.get(JobModel, "job_1")
        assert job is not None
        job.status = "done"
    with transaction(sessions) as s:
        assert s.get(JobModel, "job_1") is not None
    engine.dispose()


def test_the_state_migration_downgrades_and_upgrades_again(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    _seed_0001(engine)
    downgrade(engine, "0004_inference_routing")
    with engine.begin() as c:
        c.execute(text("UPDATE jobs SET status = 'bogus'"))  # no check any more
        c.execute(text("UPDATE jobs SET status = 'queued'"))
    upgrade(engine)
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(text("UPDATE jobs SET status = 'bogus'"))
    engine.dispose()
