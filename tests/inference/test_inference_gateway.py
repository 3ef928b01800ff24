"""The gateway over real HTTP with the official openai client, on SQLite and PostgreSQL:
models, chat and text completions (streaming or not), exact usage, one record per request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_support import Gateway, amount, running_gateway


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    with running_gateway(db_url) as gw:
        yield gw


def test_models_are_registered_by_the_admin_and_listed(gateway: Gateway) -> None:
    shown = gateway.register("small", upstream_model="upstream-small")
    assert shown["upstream_url"].endswith("/v1") and shown["served_by"] == "upstream"
    alice = gateway.tenant("alice")
    models = alice.openai(gateway).models.list()
    entry = next(m for m in models.data if m.id == "small")
    assert entry.object == "model"
    extra = entry.model_extra or {}
    assert extra["price_per_million_output_tokens"] == "4.00"
    assert "upstream_url" not in extra  # tenants do not see where a model is served
    r = httpx.post(
        f"{gateway.url}/v1/models",
        headers=alice.headers,
        json={
            "id": "x",
            "upstream_url": "http://a/v1",
            "price_per_million_input_tokens": 1,
            "price_per_million_output_tokens": 1,
        },
    )
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"


def test_chat_completion_is_forwarded_and_metered_once(gateway: Gateway) -> None:
    gateway.register("small", upstream_model="upstream-small")
    alice = gateway.tenant("alice")
    reply = alice.openai(gateway).chat.completions.create(
        model="small", messages=[{"role": "user", "content": "one two three"}], max_tokens=4
    )
    assert reply.model == "small" and reply.choices[0].message.content == "w0 w1 w2 w3"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 4)
    assert gateway.upstream.requests[-1]["model"] == "upstream-small"
    [record] = gateway.records(alice.id)
    assert (record.prompt_tokens, record.completion_tokens) == (3, 4)
    assert record.status == "completed" and record.key_id == alice.key_id
    assert record.amount_usd == amount(3, 4) and record.model == "small"
    assert record.idempotency_key.startswith("tok:chatcmpl-")


def test_streaming_with_usage_bills_the_final_usage(gateway: Gateway) -> None:
    gateway.register("small")
    alice = gateway.tenant("alice")
    chunks = list(
        alice.openai(gateway).chat.completions.create(
            model="small",
            messages=[{"role": "user", "content": "a b"}],
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "w0 w1 w2"
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (2, 3)
    [record] = gateway.records(alice.id)
    assert (record.prompt_tokens, record.completion_tokens, record.status) == (2, 3, "completed")


def test_streaming_without_usage_still_meters(gateway: Gateway) -> None:
    gateway.register("small")
    alice = gateway.tenant("alice")
    chunks = list(
        alice.openai(gateway).completions.create(
            model="small", prompt="x y z w", max_tokens=2, stream=True
        )
    )
    assert all(c.usage is None for c in chunks) and len(chunks) == 2
    assert gateway.upstream.requests[-1]["stream_options"] == {"include_usage": True}
    [record] = gateway.records(alice.id)
    assert (record.prompt_tokens, record.completion_tokens) == (4, 2)
    assert record.amount_usd == amount(4, 2)


def test_text_completion_non_streaming(gateway: Gateway) -> None:
    gateway.register("small")
    alice = gateway.tenant("alice")
    reply = alice.openai(gateway).completions.create(model="small", prompt="p q", max_tokens=2)
    assert reply.choices[0].text == "w0 w1"
    assert reply.usage is not None and reply.usage.total_tokens == 4
    assert [r.completion_tokens for r in gateway.records(alice.id)] == [2]


def test_each_request_gets_its_own_record(gateway: Gateway) -> None:
    gateway.register("small")
    alice, bob = gateway.tenant("alice"), gateway.tenant("bob")
    for tenant, n in ((alice, 3), (bob, 2)):
        client = tenant.openai(gateway)
        for _ in range(n):
            client.completions.create(model="small", prompt="p", max_tokens=1)
    assert len(gateway.records(alice.id)) == 3 and len(gateway.records(bob.id)) == 2
    keys = [r.idempotency_key for r in gateway.records()]
    assert len(set(keys)) == 5


def test_usage_endpoint_and_invoice_show_inference_by_model(gateway: Gateway) -> None:
    gateway.register(
        "pricey", price_per_million_input_tokens="1000", price_per_million_output_tokens="3000"
    )
    gateway.register("small")
    alice, bob = gateway.tenant("alice"), gateway.tenant("bob")
    client = alice.openai(gateway)
    for model in ("pricey", "pricey", "small"):
        client.completions.create(model=model, prompt="a b c", max_tokens=5)
    bob.openai(gateway).completions.create(model="small", prompt="z", max_tokens=1)
    mine = httpx.get(f"{gateway.url}/v1/usage", headers=alice.headers).json()
    assert [(u["kind"], u["model"], u["total_tokens"]) for u in mine] == [
        ("inference", "pricey", 8),
        ("inference", "pricey", 8),
        ("inference", "small", 8),
    ]
    assert mine[0]["amount_usd"] == pytest.approx(0.018) and mine[0]["gpu_seconds"] == 0
    gpu_only = httpx.get(f"{gateway.url}/v1/usage", params={"kind": "gpu"}, headers=alice.headers)
    assert gpu_only.json() == []
    closed = gateway.admin.post("/v1/invoices/close").json()
    invoice = next(i for i in closed["invoices"] if i["tenant_id"] == alice.id)
    lines = [(ln["kind"], ln["model"], ln["quantity"], ln["amount_usd"]) for ln in invoice["lines"]]
    assert lines == [("inference", "pricey", 16, 0.04), ("inference", "small", 8, 0.0)]
    assert "6 input + 10 output tokens" in invoice["lines"][0]["description"]
    again = gateway.admin.post("/v1/invoices/close").json()
    assert again["created"] == []
    billed = httpx.get(f"{gateway.url}/v1/usage", headers=alice.headers).json()
    assert {u["invoice_id"] for u in billed} == {invoice["id"]}


def test_database_work_in_a_thread_works_the_same(tmp_path: Path) -> None:
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}", db_in_thread=True) as gw:
        gw.register("small")
        alice = gw.tenant("alice")
        client = alice.openai(gw)
        client.completions.create(model="small", prompt="a", max_tokens=2)
        list(client.completions.create(model="small", prompt="a", max_tokens=2, stream=True))
        assert [r.completion_tokens for r in gw.records(alice.id)] == [2, 2]
