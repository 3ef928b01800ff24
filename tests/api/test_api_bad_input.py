"""Hostile and malformed input: always a 4xx with the error body, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import Api

GOOD: dict[str, Any] = {
    "name": "train",
    "command": ["python", "-c", "pass"],
    "gpus": 1,
    "gpu_type": "H100",
    "tier": "spot",
}


def _with(**changes: Any) -> dict[str, Any]:
    body = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def _assert_error(r: Any, *statuses: int) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if statuses:
        assert r.status_code in statuses, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]


BAD_JOBS = [
    _with(gpus=0),
    _with(gpus=-1),
    _with(gpus=10**30),
    _with(gpus="1"),
    _with(gpus=1.5),
    _with(gpus=True),
    _with(gpus=None),
    _with(gpus=...),
    _with(command=[]),
    _with(command="python"),
    _with(command=[""]),
    _with(command=["a\x00b"]),
    _with(command=["\ud800"]),
    _with(command=[1, 2]),
    _with(name=""),
    _with(name="x" * 129),
    _with(name="💥 rm -rf /"),
    _with(name="\u202eevil"),
    _with(name="a\nb"),
    _with(name="\ud800"),
    _with(tier="gold"),
    _with(tier=None),
    _with(gpu_type=""),
    _with(gpu_type="H100; DROP TABLE jobs"),
    _with(gpu_type="A100"),
    _with(max_runtime_s=0),
    _with(max_runtime_s=-5),
    _with(max_runtime_s=10**12),
    _with(max_runtime_s=1e400),
    _with(env={"BAD KEY": "x"}),
    _with(env={"K": "\x00"}),
    _with(env={"K": 1}),
    _with(env={"\ud800": "x"}),
    _with(env=[]),
    _with(priority=10**9),
    _with(unexpected=1),
    _with(gpus=64),
    _with(gpus=12),
]


@pytest.mark.parametrize("body", BAD_JOBS, ids=range(len(BAD_JOBS)))
def test_bad_job_bodies_are_4xx(api: Api, body: dict[str, Any]) -> None:
    _, a = api.tenant("a")
    r = api.client.post(
        "/v1/jobs",
        content=json.dumps(body, ensure_ascii=True),
        headers={**a, "Content-Type": "application/json"},
    )
    _assert_error(r, 400, 403, 404, 409, 422)
    assert api.client.get("/v1/jobs", headers=a).json() == []


RAW = [
    b"",
    b"{",
    b"not json",
    b"[]",
    b"null",
    b"42",
    b'"str"',
    b'{"name": "x", "name": "y"}',
    b"\xff\xfe\x00garbage",
    b'{"gpus": NaN}',
    b'{"gpus": Infinity}',
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("raw", RAW, ids=range(len(RAW)))
def test_malformed_json_is_4xx(api: Api, raw: bytes) -> None:
    _, a = api.tenant("a")
    r = api.client.post("/v1/jobs", content=raw, headers={**a, "Content-Type": "application/json"})
    _assert_error(r, 400, 422)


def test_ten_megabyte_body_is_413(api: Api) -> None:
    _, a = api.tenant("a")
    big = json.dumps(_with(command=["x" * (10 * 1024 * 1024)])).encode()
    r = api.client.post("/v1/jobs", content=big, headers={**a, "Content-Type": "application/json"})
    _assert_error(r, 413)
    assert r.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * (1024 * 1024)

    r = api.client.post("/v1/jobs", content=chunks(), headers=a)
    _assert_error(r, 413)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "", "kind": "external"},
        {"name": "a" * 65, "kind": "external"},
        {"name": "ok", "kind": "partner"},
        {"name": "ünïcode", "kind": "external"},
        {"name": "a/b", "kind": "external"},
        {"name": "ok", "kind": "external", "extra": True},
        {"name": 5, "kind": "external"},
    ],
)
def test_bad_tenant_bodies_are_4xx(api: Api, body: dict[str, Any]) -> None:
    r = api.client.post("/v1/tenants", json=body, headers=api.admin)
    _assert_error(r, 422)


def test_duplicate_tenant_is_409(api: Api) -> None:
    api.tenant("dup")
    r = api.client.post("/v1/tenants", json={"name": "dup", "kind": "external"}, headers=api.admin)
    _assert_error(r, 409)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/jobs/job_doesnotexist", None),
        ("get", "/v1/jobs/" + "x" * 5000, None),
        ("get", "/v1/jobs/%00", None),
        ("get", "/v1/jobs/%ED%A0%80", None),
        ("get", "/v1/jobs?status=exploded", None),
        ("get", "/v1/jobs?limit=-1", None),
        ("get", "/v1/jobs?limit=99999999999999999999", None),
        ("get", "/v1/jobs/job_x/logs?attempt=0", None),
        ("get", "/v1/usage?period=2026-1", None),
        ("get", "/v1/invoices/inv_nope", None),
        ("get", "/v1/nothing-here", None),
        ("delete", "/v1/jobs", None),
        ("post", "/v1/tenants/ten_nope/keys", None),
        ("post", "/v1/tenants/ten_nope/reservations", {"gpu_type": "H100", "gpus": 1}),
        ("post", "/v1/tenants/ten_nope/reservations", {"gpu_type": "H100", "gpus": 0}),
        ("post", "/v1/invoices/close", {"period": "2026-13"}),
        ("post", "/v1/invoices/close", {"period": "1900-01"}),
        ("post", "/v1/invoices/close", {"period": "9999-01"}),
        ("post", "/v1/invoices/close", {"period": 202611}),
        ("post", "/v1/invoices/close", {"periods": "2026-11"}),
    ],
)
def test_odd_paths_and_queries_are_4xx(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    r = api.client.request(method, path, headers=api.admin, json=body)
    _assert_error(r)


def test_tenant_submitting_internal_tier_is_403(api: Api) -> None:
    _, a = api.tenant("ext")
    r = api.client.post("/v1/jobs", json=_with(tier="internal"), headers=a)
    _assert_error(r, 403)
    _, own = api.tenant("own", "internal")
    assert api.client.post("/v1/jobs", json=_with(tier="internal"), headers=own).status_code == 201
