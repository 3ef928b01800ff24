"""Cursor pagination of jobs, usage, invoices and keys on SQLite and PostgreSQL: every item
exactly once in a stable order while new items arrive, the body still a JSON array, the
next cursor in ``X-Next-Cursor``, and a 400 for a cursor the server did not hand out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from api_support import T0, Api
from sqlalchemy import event

from gigawatt.core.tiers import Tier
from gigawatt.metering.records import UsageRecord
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import TokenUsageModel
from gigawatt.store.repositories import usage as usage_repo


def walk(api: Api, path: str, headers: dict[str, str], limit: int, **params: Any) -> list[Any]:
    """Every page of a listing, following ``X-Next-Cursor``."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = api.client.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert isinstance(page, list) and len(page) <= limit
        items += page
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            return items
        assert len(page) == limit
    raise AssertionError("pagination did not end")


def test_jobs_walk_every_job_once_in_order_while_new_jobs_arrive(api: Api) -> None:
    _, headers = api.tenant("acme")
    first = []
    for i in range(11):
        if i % 3:
            api.clock.advance(1)  # some jobs share a submission time: ``id`` breaks ties
        first.append(api.submit(headers, name=f"j{i}")["id"])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        r = api.client.get("/v1/jobs", params=params, headers=headers)
        assert r.status_code == 200
        seen += [j["id"] for j in r.json()]
        api.clock.advance(1)
        api.submit(headers, name="late")  # arrives while the client pages
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert sorted(seen) == sorted(first) and len(seen) == len(set(seen))
    whole = api.client.get("/v1/jobs", params={"limit": 1000}, headers=headers).json()
    order = [j["id"] for j in whole if j["id"] in set(first)]
    assert seen == order  # the pages are the one stable order, newest first
    assert whole[0]["submitted_at"] >= whole[-1]["submitted_at"]


def test_one_page_has_no_next_cursor_and_old_clients_still_get_a_list(api: Api) -> None:
    _, headers = api.tenant("acme")
    api.submit(headers)
    r = api.client.get("/v1/jobs", headers=headers)
    assert r.status_code == 200 and len(r.json()) == 1 and "X-Next-Cursor" not in r.headers
    full = api.client.get("/v1/jobs", params={"limit": 1}, headers=headers)
    assert len(full.json()) == 1 and "X-Next-Cursor" not in full.headers


def _usage(tenant: str, i: int, start: float) -> UsageRecord:
    return UsageRecord(
        idempotency_key=f"u:{tenant}:{i}", job_id=f"job_{i}", attempt=1, tenant=tenant,
        gpu_type="H100", tier=Tier.SPOT, gpus=1, start=start, end=start + 60,
        gpu_seconds=60.0, energy_kwh=0.01, amount_usd=Decimal("0.05"), period="2026-11",
    )  # fmt: skip


def _tokens(tenant: str, i: int, at: float) -> TokenUsageModel:
    return TokenUsageModel(
        idempotency_key=f"tok:{tenant}:{i}", tenant_id=tenant, key_id=None, model="small",
        prompt_tokens=3, completion_tokens=4, amount_usd=Decimal("0.000021"),
        status="completed", reason="", at=at, period="2026-11",
    )  # fmt: skip


def test_usage_walks_gpu_then_token_records_once_while_new_ones_arrive(api: Api) -> None:
    tid, headers = api.tenant("acme")
    other, _ = api.tenant("bolt")
    with transaction(api.platform.sessions) as s:
        records = [_usage(tid, i, T0 + (i // 2)) for i in range(7)] + [_usage(other, 99, T0)]
        usage_repo.add_usage(s, records, T0)
        s.add_all([_tokens(tid, i, T0 + i) for i in range(5)])
    seen: list[tuple[str, int]] = []
    cursor: str | None = None
    n = 100
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = api.client.get("/v1/usage", params=params, headers=headers)
        assert r.status_code == 200, r.text
        seen += [(u["kind"], u["id"]) for u in r.json()]
        with transaction(api.platform.sessions) as s:  # new usage lands between pages
            usage_repo.add_usage(s, [_usage(tid, n, T0 + 1000)], T0)
            s.add(_tokens(tid, n, T0 + 1000))
        n += 1
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    kinds = [k for k, _ in seen]
    assert kinds == sorted(kinds, key=lambda k: k != "gpu")  # GPU records, then tokens
    assert len(seen) == len(set(seen))  # nothing twice (late records: at most once)
    everything = api.client.get("/v1/usage", headers=headers).json()
    original = [(u["kind"], u["id"]) for u in everything if u["start"] < T0 + 1000]
    assert len(original) == 12 and set(original) <= set(seen)
    gpu = [(u["start"], u["id"]) for u in everything if u["kind"] == "gpu"]
    assert [i for k, i in seen if k == "gpu"] == [i for _, i in sorted(gpu)][: kinds.count("gpu")]
    tokens = walk(api, "/v1/usage", headers, 2, kind="inference")
    assert [t["id"] for t in tokens] == sorted(t["id"] for t in tokens)


def test_invoices_and_keys_page_in_a_stable_order(api: Api) -> None:
    tenants = [api.tenant(f"t{i}") for i in range(5)]
    with transaction(api.platform.sessions) as s:
        usage_repo.add_usage(s, [_usage(tid, i, T0) for i, (tid, _) in enumerate(tenants)], T0)
    closed = api.client.post("/v1/invoices/close", json={"period": "2026-11"}, headers=api.admin)
    assert closed.status_code == 200 and len(closed.json()["created"]) == 5
    paged = walk(api, "/v1/invoices", api.admin, 2)
    whole = api.client.get("/v1/invoices", headers=api.admin).json()
    assert [i["id"] for i in paged] == [i["id"] for i in whole] and len(paged) == 5
    assert all(len(i["lines"]) == 1 for i in paged)
    keys = walk(api, "/v1/keys", api.admin, 2)
    assert len(keys) == 5 and len({k["id"] for k in keys}) == 5
    assert [k["created_at"] for k in keys] == sorted(k["created_at"] for k in keys)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/usage", "/v1/invoices", "/v1/keys"])
@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJ4Ijox", "WyJqb2JzIiwxLDJd", "WyJub3BlIl0", "W10", "!!!", "x" * 2000]
)
def test_a_cursor_the_server_did_not_hand_out_is_400(api: Api, path: str, cursor: str) -> None:
    _, headers = api.tenant("acme")
    r = api.client.get(path, params={"cursor": cursor}, headers=headers)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["code"] in ("invalid_cursor", "invalid_input")
    if len(cursor) <= 1024:
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_of_another_listing_is_400(api: Api) -> None:
    _, headers = api.tenant("acme")
    for i in range(3):
        api.submit(headers, name=f"j{i}")
    jobs_cursor = api.client.get("/v1/jobs", params={"limit": 1}, headers=headers).headers[
        "X-Next-Cursor"
    ]
    for path in ("/v1/keys", "/v1/usage", "/v1/invoices"):
        r = api.client.get(path, params={"cursor": jobs_cursor}, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


def test_listing_invoices_reads_their_lines_in_one_query(api: Api) -> None:
    tenants = [api.tenant(f"t{i}") for i in range(6)]
    with transaction(api.platform.sessions) as s:
        usage_repo.add_usage(s, [_usage(tid, i, T0) for i, (tid, _) in enumerate(tenants)], T0)
    api.client.post("/v1/invoices/close", json={"period": "2026-11"}, headers=api.admin)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(api.platform.engine, "before_cursor_execute", count)
    try:
        few = api.client.get("/v1/invoices", params={"limit": 1}, headers=api.admin)
        n_few = len(statements)
        statements.clear()
        many = api.client.get("/v1/invoices", params={"limit": 6}, headers=api.admin)
        n_many = len(statements)
    finally:
        event.remove(api.platform.engine, "before_cursor_execute", count)
    assert len(few.json()) == 1 and len(many.json()) == 6
    assert n_many == n_few  # no query per invoice
    assert sum("invoice_lines" in s for s in statements) == 1
