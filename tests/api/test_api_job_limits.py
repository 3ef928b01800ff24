"""``limits`` on ``POST /v1/jobs``: stored, shown, passed to the backend; bad limits are 422."""

from __future__ import annotations

import pytest
from api_support import Api


def test_limits_are_stored_shown_and_launched(api: Api) -> None:
    _, acme = api.tenant("acme")
    limits = {"memory_mb": 512, "pids": 64, "cpus": 2}
    job = api.submit(acme, name="limited", gpus=1, tier="on_demand", limits=limits)
    assert job["limits"] == limits
    plain = api.submit(acme, name="plain", gpus=1, tier="on_demand")
    assert plain["limits"] is None
    api.tick()
    assert dict(api.backend.spec(job["id"], 1).limits or {}) == limits
    assert api.backend.spec(plain["id"], 1).limits is None
    shown = api.client.get(f"/v1/jobs/{job['id']}", headers=acme).json()
    assert shown["limits"] == limits


@pytest.mark.parametrize(
    "limits",
    [{"memory_mb": 1}, {"pids": 0}, {"cpus": 0}, {"cpus": "2"}, {"gpus": 1}, {"pids": 1.5}],
)
def test_bad_limits_are_422(api: Api, limits: dict[str, object]) -> None:
    _, acme = api.tenant("acme")
    body = {
        "name": "x",
        "command": ["true"],
        "gpus": 1,
        "gpu_type": "H100",
        "tier": "on_demand",
        "limits": limits,
    }
    r = api.client.post("/v1/jobs", json=body, headers=acme)
    assert r.status_code == 422, r.text
    assert set(r.json()["error"]) >= {"code", "message"}
