"""The API over the real app: the tour, isolation between tenants, admin-only routes."""

from __future__ import annotations

import pytest
from api_support import Api


def test_health_docs_and_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}/cancel", "/v1/usage", "/v1/invoices/close"):
        assert path in paths


def test_tour_submit_run_usage_invoice(api: Api) -> None:
    tid, acme = api.tenant("acme")
    job = api.submit(acme, name="hello", gpus=2, tier="on_demand")
    assert job["status"] == "queued" and job["tenant_id"] == tid
    api.tick()
    running = api.client.get(f"/v1/jobs/{job['id']}", headers=acme).json()
    assert running["status"] == "running"
    (attempt,) = running["attempts"]
    assert sum(p["gpus"] for p in attempt["placement"]) == 2
    fleet = api.client.get("/v1/fleet", headers=acme).json()
    assert fleet["gpus_total"] == 16 and fleet["gpus_allocated"] == 2
    assert fleet["allocated_by_tier"] == {"on_demand": 2}
    assert fleet["sites"][0]["power_in_use_kw"] == pytest.approx(2.8)
    api.clock.advance(1800)
    api.backend.finish(job["id"], 1)
    api.tick()
    done = api.client.get(f"/v1/jobs/{job['id']}", headers=acme).json()
    assert done["status"] == "succeeded"
    logs = api.client.get(f"/v1/jobs/{job['id']}/logs", headers=acme).json()
    assert logs["attempt"] == 1 and "start" in logs["logs"]
    (usage,) = api.client.get("/v1/usage", headers=acme).json()
    assert usage["job_id"] == job["id"] and usage["tenant"] == tid
    assert (usage["gpus"], usage["gpu_seconds"]) == (2, 3600.0)
    assert usage["end"] - usage["start"] == 1800.0
    assert usage["amount_usd"] == pytest.approx(2.60)
    assert usage["energy_kwh"] == pytest.approx(1.4)
    closed = api.client.post("/v1/invoices/close", json={}, headers=api.admin)
    assert closed.status_code == 200, closed.text
    assert len(closed.json()["created"]) == 1
    again = api.client.post("/v1/invoices/close", headers=api.admin).json()
    assert again["created"] == [] and again["invoices"] == closed.json()["invoices"]
    (invoice,) = api.client.get("/v1/invoices", headers=acme).json()
    assert invoice["total_usd"] == 2.6 and invoice["lines"][0]["tier"] == "on_demand"
    got = api.client.get(f"/v1/invoices/{invoice['id']}", headers=acme).json()
    assert got == invoice
    prices = api.client.get("/v1/prices", headers=acme).json()
    assert {"gpu_type": "H100", "tier": "on_demand", "price_per_gpu_hour": 2.6} in prices
    metrics = api.client.get("/metrics").text
    assert 'gigawatt_revenue_usd_total{tier="on_demand"} 2.6' in metrics
    assert 'gigawatt_jobs{state="succeeded"} 1.0' in metrics


def test_tenants_are_isolated(api: Api) -> None:
    _, a = api.tenant("a")
    _, b = api.tenant("b")
    job = api.submit(a)
    for method, path in [
        ("get", f"/v1/jobs/{job['id']}"),
        ("post", f"/v1/jobs/{job['id']}/cancel"),
        ("get", f"/v1/jobs/{job['id']}/logs"),
    ]:
        r = api.client.request(method, path, headers=b)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert api.client.get("/v1/jobs", headers=b).json() == []
    assert [j["id"] for j in api.client.get("/v1/jobs", headers=a).json()] == [job["id"]]
    assert len(api.client.get("/v1/jobs", headers=api.admin).json()) == 1
    api.tick()
    api.backend.finish(job["id"], 1)
    api.clock.advance(1)
    api.tick()
    assert api.client.get("/v1/usage", headers=b).json() == []
    assert len(api.client.get("/v1/usage", headers=a).json()) == 1
    api.client.post("/v1/invoices/close", headers=api.admin)
    (inv,) = api.client.get("/v1/invoices", headers=a).json()
    assert api.client.get(f"/v1/invoices/{inv['id']}", headers=b).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/tenants"),
        ("get", "/v1/tenants"),
        ("post", "/v1/tenants/x/keys"),
        ("post", "/v1/tenants/x/reservations"),
        ("post", "/v1/invoices/close"),
    ],
)
def test_admin_routes_refuse_tenant_keys(api: Api, method: str, path: str) -> None:
    _, a = api.tenant("a")
    r = api.client.request(method, path, headers=a, json={"name": "z", "kind": "external"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "header", [None, "Bearer nope", "Bearer gw_abc_def", "Basic Zm9v", "Bearer ", "bearer"]
)
def test_bad_credentials_are_401(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = api.client.get("/v1/jobs", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_cancel_running_job_over_http(api: Api) -> None:
    _, a = api.tenant("a")
    job = api.submit(a, gpus=8)
    api.tick()
    r = api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=a)
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    api.tick(2)
    assert api.client.get(f"/v1/jobs/{job['id']}", headers=a).json()["status"] == "cancelled"
    r = api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=a)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_reservations_over_http(api: Api) -> None:
    tid, a = api.tenant("buyer")
    r = api.client.post("/v1/jobs", headers=a, json={
        "name": "r", "command": ["x"], "gpus": 8, "gpu_type": "H100", "tier": "reserved",
    })  # fmt: skip
    assert r.status_code == 422 and "reservation" in r.json()["error"]["message"]
    made = api.client.post(
        f"/v1/tenants/{tid}/reservations", json={"gpu_type": "H100", "gpus": 8}, headers=api.admin
    )
    assert made.status_code == 201, made.text
    job = api.submit(a, gpus=8, tier="reserved")
    api.tick()
    assert api.client.get(f"/v1/jobs/{job['id']}", headers=a).json()["status"] == "running"
    listed = api.client.get(f"/v1/tenants/{tid}/reservations", headers=api.admin).json()
    assert [x["gpus"] for x in listed] == [8]
    rid = listed[0]["id"]
    gone = api.client.delete(f"/v1/tenants/{tid}/reservations/{rid}", headers=api.admin)
    assert gone.status_code == 204
    assert api.client.get(f"/v1/tenants/{tid}/reservations", headers=api.admin).json() == []


def test_inference_gateway_mounts_with_its_own_body_limit(api: Api) -> None:
    from fastapi.testclient import TestClient

    from gigawatt.api import create_app
    from gigawatt.inference.settings import InferenceSettings

    app = create_app(api.platform, inference=InferenceSettings(background=False))
    _, a = api.tenant("a")
    with TestClient(app) as client:
        assert client.get("/v1/models", headers=a).json() == {"object": "list", "data": []}
        prompt = {"model": "none", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
        r = client.post("/v1/chat/completions", json=prompt, headers=a)
        assert r.status_code == 404, r.text  # read and refused for the model, not the size
        job = {"name": "j", "command": ["x" * 2_000_000], "gpus": 1, "gpu_type": "H100"}
        r = client.post("/v1/jobs", json={**job, "tier": "spot"}, headers=a)
        assert r.status_code == 413
