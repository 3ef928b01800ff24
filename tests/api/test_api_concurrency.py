"""Concurrent clients on two server instances sharing one database: no GPU is ever shared."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api_support import ADMIN_KEY, api_fleet
from fastapi.testclient import TestClient
from sqlalchemy import select

from gigawatt.api import create_app
from gigawatt.backends.fake import FakeBackend
from gigawatt.services.platform import Platform, open_platform
from gigawatt.services.settings import Settings
from gigawatt.store.db import transaction
from gigawatt.store.models import AttemptModel

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _platform(db_url: str) -> Platform:
    settings = Settings(
        database_url=db_url, grace_s=0.5, admin_key=ADMIN_KEY, tick_s=0.05, lease_ttl_s=3.0
    )
    return open_platform(settings, FakeBackend(), fleet=api_fleet())


def _overlaps(attempts: list[AttemptModel]) -> list[str]:
    by_gpu: dict[tuple[str, int], list[tuple[float, float, str]]] = defaultdict(list)
    for a in attempts:
        for (node, _), indices in zip(a.placement, a.gpu_indices, strict=True):
            for i in indices:
                by_gpu[(node, i)].append((a.started_at, a.ended_at or float("inf"), a.job_id))
    bad = []
    for gpu, spans in by_gpu.items():
        spans.sort()
        for (s1, e1, j1), (s2, _e2, j2) in itertools.pairwise(spans):
            if s2 < e1:
                bad.append(f"{gpu}: {j1} [{s1}, {e1}) overlaps {j2} from {s2}")
    return bad


def test_concurrent_submissions_never_double_allocate(db_url: str) -> None:
    first, second = _platform(db_url), _platform(db_url)
    with TestClient(create_app(first)) as a, TestClient(create_app(second)) as b:
        r = a.post("/v1/tenants", json={"name": "load", "kind": "external"}, headers=ADMIN)
        tid = r.json()["id"]
        key = b.post(f"/v1/tenants/{tid}/keys", headers=ADMIN).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}

        def submit(n: int) -> dict[str, Any]:
            client = a if n % 2 else b
            body = {
                "name": f"j{n}",
                "command": ["x"],
                "gpus": [1, 2, 4, 8][n % 4],
                "gpu_type": "H100",
                "tier": ["spot", "on_demand"][n % 2],
                "env": {"GIGAWATT_FAKE_DURATION_S": "0.3"},
            }
            r = client.post("/v1/jobs", json=body, headers=headers)
            assert r.status_code == 201, r.text
            job: dict[str, Any] = r.json()
            return job

        with ThreadPoolExecutor(max_workers=8) as pool:
            submitted = list(pool.map(submit, range(40)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = a.get("/v1/jobs?limit=1000", headers=headers).json()
            fleet = b.get("/v1/fleet", headers=headers).json()
            assert fleet["gpus_allocated"] <= fleet["gpus_total"]
            if all(j["status"] == "succeeded" for j in listed):
                break
            time.sleep(0.1)
        statuses = sorted(
            {j["status"] for j in a.get("/v1/jobs?limit=1000", headers=headers).json()}
        )
        assert statuses == ["succeeded"]
    with transaction(first.sessions) as s:
        attempts = list(s.scalars(select(AttemptModel)).all())
    assert len(attempts) == len(submitted) == 40
    assert _overlaps(attempts) == []
    first.engine.dispose()
    second.engine.dispose()
