"""The cheap submission path on SQLite and PostgreSQL: cached key checks (a key revoked
through another server stops working within a second, through this one at once, an expired
key at its expiry), and concurrent submissions committed together, each with its own
answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from api_support import ADMIN_KEY, T0, Api, api_fleet
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from gigawatt.api import create_app
from gigawatt.api.submissions import SubmissionBatcher
from gigawatt.backends.fake import FakeBackend
from gigawatt.core.clock import ManualClock
from gigawatt.core.errors import Forbidden, GigawattError, Unschedulable
from gigawatt.core.tiers import Tier
from gigawatt.services import auth
from gigawatt.services.auth import KEY_CACHE_TTL_S, KeyCache, Principal
from gigawatt.services.jobs import JobSpec
from gigawatt.services.platform import Platform, open_platform
from gigawatt.services.settings import Settings
from gigawatt.services.views import JobView
from gigawatt.store.db import transaction
from gigawatt.store.models import JobModel

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def two_servers(db_url: str) -> Iterator[tuple[TestClient, TestClient, ManualClock]]:
    """Two apps (two "server processes": each its own platform and caches) on one database."""
    clock = ManualClock(T0)
    settings = Settings(database_url=db_url, admin_key=ADMIN_KEY, run_control_loop=False)
    platforms = [
        open_platform(settings, FakeBackend(clock), fleet=api_fleet(), clock=clock)
        for _ in range(2)
    ]
    with (
        TestClient(create_app(platforms[0])) as first,
        TestClient(create_app(platforms[1])) as second,
    ):
        yield first, second, clock
    for platform in platforms:
        platform.engine.dispose()


def test_a_key_revoked_through_another_server_stops_working_within_a_second(
    two_servers: tuple[TestClient, TestClient, ManualClock],
) -> None:
    first, second, clock = two_servers
    tenant = first.post("/v1/tenants", json={"name": "a", "kind": "external"}, headers=ADMIN)
    issued = first.post(f"/v1/tenants/{tenant.json()['id']}/keys", headers=ADMIN).json()
    key = {"Authorization": f"Bearer {issued['key']}"}
    assert first.get("/v1/jobs", headers=key).status_code == 200
    assert second.get("/v1/jobs", headers=key).status_code == 200  # checked: cached there
    revoked = first.post(f"/v1/keys/{issued['id']}/revoke", headers=key)
    assert revoked.status_code == 200, revoked.text
    refused = first.get("/v1/jobs", headers=key)  # the server that revoked it: at once
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    clock.advance(KEY_CACHE_TTL_S / 2)
    assert second.get("/v1/jobs", headers=key).status_code == 200  # within the window
    clock.advance(KEY_CACHE_TTL_S / 2)
    late = second.get("/v1/jobs", headers=key)
    assert late.status_code == 401 and "revoked" in late.json()["error"]["message"]
    body = {"name": "x", "command": ["true"], "gpus": 1, "gpu_type": "H100", "tier": "spot"}
    submitted = second.post("/v1/jobs", json=body, headers=key)
    assert submitted.status_code == 401 and set(submitted.json()["error"]) == {"code", "message"}


def test_cached_checks_end_at_expiry_and_after_the_ttl() -> None:
    cache = KeyCache(ttl_s=1.0)
    who = Principal(False, "ten_a", "external", "k1", None, expires_at=T0 + 0.5)
    cache.put("digest", T0, who)
    assert cache.get("digest", T0 + 0.4) == who
    assert cache.get("digest", T0 + 0.5) is None  # expired, whatever the cache holds
    forever = Principal(False, "ten_a", "external", "k2")
    cache.put("other", T0, forever)
    assert cache.get("other", T0 + 0.99) == forever
    assert cache.get("other", T0 + 1.0) is None
    assert cache.get("other", T0 - 5) is None  # the clock went back: check again
    generation = cache.generation
    cache.forget()
    assert cache.get("other", T0) is None
    cache.put("other", T0, forever, generation)  # began before the revocation: not kept
    assert cache.get("other", T0) is None
    cache.put("other", T0, forever, cache.generation)
    assert cache.get("other", T0) == forever
    off = KeyCache(ttl_s=0.0)
    off.put("digest", T0, forever)
    assert off.get("digest", T0) is None


def _spec(gpus: int = 1, tier: Tier = Tier.SPOT) -> JobSpec:
    return JobSpec(name="batch", command=("true",), gpus=gpus, gpu_type="H100", tier=tier)


def _count_job_inserts(platform: Platform) -> list[int]:
    """A list that grows by one per INSERT INTO jobs the engine executes."""
    seen: list[int] = []

    @event.listens_for(platform.engine, "before_cursor_execute")
    def _count(*args: Any) -> None:
        statement = str(args[2])
        if statement.lstrip().upper().startswith("INSERT INTO JOBS"):
            seen.append(1)

    return seen


async def _submit_together(
    batcher: SubmissionBatcher, submissions: list[tuple[Principal, JobSpec]]
) -> list[JobView | BaseException]:
    return await asyncio.gather(
        *(batcher.submit(who, spec) for who, spec in submissions), return_exceptions=True
    )


def _job_ids(platform: Platform) -> set[str]:
    with transaction(platform.sessions) as s:
        return set(s.scalars(select(JobModel.id)))


def test_concurrent_submissions_commit_together_each_with_its_answer(api: Api) -> None:
    tenant_id, headers = api.tenant("acme")
    who = auth.authenticate(api.platform, headers["Authorization"])
    inserts = _count_job_inserts(api.platform)
    batch = [(who, _spec(1)), (who, _spec(4)), (auth.ADMIN, _spec(1)), (who, _spec(9999))]
    batch += [(who, _spec(8, Tier.ON_DEMAND))]
    results = asyncio.run(_submit_together(SubmissionBatcher(api.platform), batch))
    assert [type(r) for r in results] == [JobView, JobView, Forbidden, Unschedulable, JobView]
    assert len(inserts) == 1  # the three accepted jobs: one statement, one transaction
    queued = [r for r in results if isinstance(r, JobView)]
    assert {j.id for j in queued} == _job_ids(api.platform)
    assert all(j.tenant_id == tenant_id and j.status == "queued" for j in queued)
    assert api.platform.wake.is_set()
    api.tick()
    jobs = api.client.get("/v1/jobs", headers=headers).json()
    assert sorted(j["gpus"] for j in jobs) == [1, 4, 8]
    assert {j["status"] for j in jobs} == {"running"}


def test_a_batch_that_fails_in_the_database_is_retried_one_by_one(api: Api) -> None:
    _, headers = api.tenant("acme")
    who = auth.authenticate(api.platform, headers["Authorization"])
    # past what the column holds (the API's schema would refuse it): the INSERT fails
    too_long = replace(_spec(), max_runtime_s=2**64)
    batch = [(who, _spec()), (who, too_long), (who, _spec(2))]
    results = asyncio.run(_submit_together(SubmissionBatcher(api.platform), batch))
    assert isinstance(results[0], JobView) and isinstance(results[2], JobView)
    assert isinstance(results[1], Exception) and not isinstance(results[1], GigawattError)
    assert _job_ids(api.platform) == {results[0].id, results[2].id}


def test_many_clients_at_once_each_get_their_job(api: Api) -> None:
    _, headers = api.tenant("acme")
    body = {"name": "x", "command": ["true"], "gpus": 1, "gpu_type": "H100", "tier": "spot"}

    async def one(i: int) -> tuple[int, str]:
        response = await asyncio.to_thread(
            api.client.post, "/v1/jobs", json={**body, "priority": i}, headers=headers
        )
        return response.status_code, response.json()["id"]

    async def all_of() -> list[tuple[int, str]]:
        return await asyncio.gather(*(one(i) for i in range(24)))

    answers = asyncio.run(all_of())
    assert {code for code, _ in answers} == {201}
    ids = {job_id for _, job_id in answers}
    assert len(ids) == 24 and ids == _job_ids(api.platform)
    with transaction(api.platform.sessions) as s:
        priorities = sorted(s.scalars(select(JobModel.priority)))
        assert s.scalar(select(func.count()).select_from(JobModel)) == 24
    assert priorities == list(range(24))


def test_two_event_loops_submitting_at_once_each_get_their_jobs(api: Api) -> None:
    _, headers = api.tenant("acme")
    who = auth.authenticate(api.platform, headers["Authorization"])
    batcher = SubmissionBatcher(api.platform)

    def on_its_own_loop(n: int) -> list[JobView | BaseException]:
        return asyncio.run(_submit_together(batcher, [(who, _spec())] * n))

    with ThreadPoolExecutor(2) as pool:
        answers = [r for rs in pool.map(on_its_own_loop, [6, 6]) for r in rs]
    assert all(isinstance(r, JobView) for r in answers)
    assert {r.id for r in answers if isinstance(r, JobView)} == _job_ids(api.platform)
    assert len(_job_ids(api.platform)) == 12
