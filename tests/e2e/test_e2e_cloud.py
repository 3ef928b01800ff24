"""The live cloud end to end: a real server process, real jobs, real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from e2e_support import PY, Client, Server, assert_billed_as_allocated

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Start = Callable[..., tuple[Server, Client]]
SLEEP = [PY, "-c", "import time; time.sleep(60)"]


def test_tour_job_runs_is_billed_and_invoiced(start_server: Start) -> None:
    _, admin = start_server()
    tid, acme, _ = admin.tenant("acme")
    job = acme.submit(
        [
            PY,
            "-c",
            "import os, time; print('hello from', os.environ['GIGAWATT_JOB_ID']); time.sleep(1)",
        ],
        name="tour",
        gpus=4,
        tier="on_demand",
    )
    running = acme.wait_status(job["id"], "running")
    assert sum(p["gpus"] for p in running["attempts"][0]["placement"]) == 4
    assert admin.get("/v1/fleet")["gpus_allocated"] == 4
    done = acme.wait_status(job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert acme.get(f"/v1/jobs/{job['id']}/logs")["logs"] == f"hello from {job['id']}\n"
    (usage,) = acme.get("/v1/usage")
    assert usage["tenant"] == tid and usage["gpus"] == 4 and usage["amount_usd"] > 0
    assert_billed_as_allocated(acme, done)
    closed = admin.post("/v1/invoices/close", {})
    assert len(closed["created"]) == 1
    assert admin.post("/v1/invoices/close", {})["created"] == []
    (invoice,) = acme.get("/v1/invoices")
    assert invoice["tenant_id"] == tid and invoice["lines"][0]["tier"] == "on_demand"
    metrics = httpx.get(f"{admin.url}/metrics").text
    assert 'gigawatt_jobs{state="succeeded"} 1.0' in metrics


def test_tenants_cannot_see_each_other(start_server: Start) -> None:
    _, admin = start_server()
    _, a, _ = admin.tenant("a")
    _, b, _ = admin.tenant("b")
    job = a.submit([PY, "-c", "pass"])
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/logs"):
        r = b.http.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert b.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 404
    assert b.get("/v1/jobs") == [] and b.get("/v1/usage") == []
    assert b.http.post("/v1/tenants", json={"name": "x", "kind": "external"}).status_code == 403


def test_spot_is_preempted_by_internal_work_and_requeued(start_server: Start) -> None:
    _, admin = start_server(nodes=1)
    _, ext, _ = admin.tenant("ext")
    _, own, _ = admin.tenant("own", "internal")
    spot = ext.submit(SLEEP, gpus=8, tier="spot")
    ext.wait_status(spot["id"], "running")
    internal = own.submit([PY, "-c", "import time; time.sleep(2)"], gpus=8, tier="internal")
    requeued = ext.wait(spot["id"], lambda j: j["attempts"][0]["status"] == "preempted")
    assert requeued["status"] in ("queued", "running")
    assert internal["id"] in requeued["attempts"][0]["reason"]
    own.wait_status(internal["id"], "running")
    assert ext.job(spot["id"])["status"] == "queued"
    assert_billed_as_allocated(ext, requeued)
    # the internal job finishes; the spot job runs again as attempt 2
    own.wait_status(internal["id"], "succeeded")
    again = ext.wait(spot["id"], lambda j: j["status"] == "running" and len(j["attempts"]) == 2)
    ext.post(f"/v1/jobs/{spot['id']}/cancel")
    cancelled = ext.wait_status(spot["id"], "cancelled")
    assert [a["status"] for a in cancelled["attempts"]] == ["preempted", "cancelled"]
    assert_billed_as_allocated(ext, cancelled)
    assert again["attempts"][1]["attempt"] == 2


def test_reservation_is_honoured(start_server: Start) -> None:
    _, admin = start_server(nodes=1)
    tid, buyer, _ = admin.tenant("buyer")
    _, other, _ = admin.tenant("other")
    r = buyer.http.post("/v1/jobs", json={
        "name": "r", "command": SLEEP, "gpus": 8, "gpu_type": "H100", "tier": "reserved",
    })  # fmt: skip
    assert r.status_code == 422 and "reservation" in r.json()["error"]["message"]
    admin.post(f"/v1/tenants/{tid}/reservations", {"gpu_type": "H100", "gpus": 8}, expect=201)
    spot = other.submit(SLEEP, gpus=8)
    other.wait_status(spot["id"], "running")
    reserved = buyer.submit([PY, "-c", "pass"], gpus=8, tier="reserved")
    buyer.wait_status(reserved["id"], "running", "succeeded")
    assert other.job(spot["id"])["attempts"][0]["status"] == "preempted"
    buyer.wait_status(reserved["id"], "succeeded")


def test_power_cap_is_honoured(start_server: Start) -> None:
    # 16 H100 but power for 8 (1.4 kW each): never more than 8 run at once
    _, admin = start_server(nodes=2, power_mw=0.0112)
    _, ext, _ = admin.tenant("ext")
    r = ext.http.post("/v1/jobs", json={
        "name": "big", "command": SLEEP, "gpus": 16, "gpu_type": "H100", "tier": "on_demand",
    })  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "unschedulable"
    jobs = [ext.submit(SLEEP, gpus=4, tier="on_demand") for _ in range(3)]
    ext.wait_status(jobs[0]["id"], "running")
    ext.wait_status(jobs[1]["id"], "running")
    fleet = admin.get("/v1/fleet")
    (site,) = fleet["sites"]
    assert fleet["gpus_allocated"] == 8 and site["power_in_use_kw"] <= 11.2 + 1e-6
    assert ext.job(jobs[2]["id"])["status"] == "queued"
    ext.post(f"/v1/jobs/{jobs[0]['id']}/cancel")
    ext.wait_status(jobs[2]["id"], "running")
    assert admin.get("/v1/fleet")["gpus_allocated"] == 8
    for job in jobs[1:]:
        ext.post(f"/v1/jobs/{job['id']}/cancel")
    for job in jobs:
        assert_billed_as_allocated(ext, ext.wait_status(job["id"], "cancelled"))


def test_bad_inputs_over_http_are_4xx(start_server: Start) -> None:
    server, admin = start_server()
    _, ext, _ = admin.tenant("ext")
    headers = {"Content-Type": "application/json"}
    cases = [
        b"{",
        b'{"name": "x"}',
        b'{"name":"x","command":["a"],"gpus":-1,"gpu_type":"H100","tier":"spot"}',
        b'{"name":"x","command":["a"],"gpus":1e400,"gpu_type":"H100","tier":"spot"}',
        b'{"name":"\\ud800","command":["a"],"gpus":1,"gpu_type":"H100","tier":"spot"}',
        b'{"name":"x","command":["\\u0000"],"gpus":1,"gpu_type":"H100","tier":"spot"}',
        b'{"name":"x","command":["a"],"gpus":1,"gpu_type":"H100","tier":"spot","x":1}',
        b"\xff\xfe",
    ]
    for body in cases:
        r = ext.http.post("/v1/jobs", content=body, headers=headers)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
    big = b'{"name":"x","command":["' + b"a" * (10 * 1024 * 1024) + b'"]}'
    r = ext.http.post("/v1/jobs", content=big, headers=headers)
    assert r.status_code == 413
    assert ext.get("/v1/jobs") == []
    assert httpx.get(f"{server.url}/healthz").status_code == 200
