"""The gateway against an upstream that breaks HTTP: every malformed answer gives the client a
502 in OpenAI's error format and a usage record of the failure, and the gateway closes the
upstream connection; responses split at every offset over a real socket read exactly; dead
pooled connections are never written to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_support import Gateway, Tenant, running_gateway
from raw_upstream import RawUpstream, completion, model_of, ok_response

from gigawatt.inference.http1 import Http1Client

pytestmark = pytest.mark.inference

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
CHUNK = b'data: {"choices":[{"index":0,"text":"a"}]}\n\n'

#: model name -> (answer pieces, whether the upstream closes after them)
ANSWERS: dict[str, tuple[list[bytes], bool]] = {
    "bad-length": ([b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n{}"], False),
    "bad-status": ([b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}"], False),
    "bad-header": ([b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 2\r\n\r\n{}"], False),
    "two-lengths": (
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"],
        False,
    ),
    "bad-chunk": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"], False),
    "short-body": ([b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{}"], True),
    "stream-bad-chunk": (
        [SSE_HEAD, f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n", b"nothex\r\n"],
        False,
    ),
    # the same bytes with the good chunk and the broken one in one write, as a loaded machine's
    # TCP stack may deliver them (one read): the good chunk must still reach the client
    "stream-bad-chunk-one-read": (
        [SSE_HEAD, f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\nnothex\r\n"],
        False,
    ),
}


def script(body: bytes) -> tuple[list[bytes], bool]:
    model = model_of(body)
    if model in ANSWERS:
        return ANSWERS[model]
    return [ok_response(completion(model))], False


@pytest.fixture
def raw() -> Iterator[RawUpstream]:
    with RawUpstream(script) as up:
        yield up


@pytest.fixture
def gateway(raw: RawUpstream, tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(f"sqlite:///{tmp_path / 'gw.db'}") as gw:
        for name in [*ANSWERS, "fine"]:
            gw.register(name, upstream_url=f"{raw.url}/v1")
        yield gw


@pytest.fixture
def alice(gateway: Gateway) -> Tenant:
    return gateway.tenant("alice")


def wait_for(check: object, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("model", [m for m in ANSWERS if not m.startswith("stream-")])
@pytest.mark.parametrize("stream", [False, True])
def test_malformed_answer_is_a_502_with_a_record_and_a_closed_socket(
    gateway: Gateway, alice: Tenant, raw: RawUpstream, model: str, stream: bool
) -> None:
    body = {"model": model, "prompt": "a b", "max_tokens": 3, "stream": stream}
    r = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=alice.headers)
    if stream and r.status_code == 200:  # the head was fine: the error comes as an event
        assert '"code":"upstream_error"' in r.text
    else:
        assert r.status_code == 502, r.text
        error = r.json()["error"]
        assert error["type"] == "api_error" and error["code"] == "upstream_error"
        assert "upstream" in error["message"]
    [record] = gateway.records(alice.id)
    assert record.status == "upstream_error" and record.amount_usd == 0
    assert record.reason
    if not ANSWERS[model][1]:  # the upstream left the connection open: the gateway closed it
        wait_for(lambda: raw.closed_by_peer >= 1, "the gateway kept the broken connection")
    fine = {"model": "fine", "prompt": "a b", "max_tokens": 3}
    assert httpx.post(f"{gateway.url}/v1/completions", json=fine, headers=alice.headers).is_success


@pytest.mark.parametrize("model", ["stream-bad-chunk", "stream-bad-chunk-one-read"])
def test_malformed_chunk_mid_stream_ends_the_stream_with_an_error_event(
    gateway: Gateway, alice: Tenant, raw: RawUpstream, model: str
) -> None:
    body = {"model": model, "prompt": "a b", "stream": True}
    r = httpx.post(f"{gateway.url}/v1/completions", json=body, headers=alice.headers)
    assert r.status_code == 200
    events = [line for line in r.text.splitlines() if line.startswith("data: ")]
    assert '"text":"a"' in events[0] and '"code":"upstream_error"' in events[-1]
    [record] = gateway.records(alice.id)
    assert record.status == "upstream_error" and "1 content chunks" in record.reason
    wait_for(lambda: raw.closed_by_peer >= 1, "the gateway kept the broken connection")


def test_response_split_at_every_offset_over_a_socket() -> None:
    """Every split of a chunked and a Content-Length answer, written in two pieces over a real
    socket, reads back the same body on one pooled connection."""
    content = completion("m")
    half = len(content) // 2
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{half:x}\r\n".encode()
        + content[:half]
        + f"\r\n{len(content) - half:x}\r\n".encode()
        + content[half:]
        + b"\r\n0\r\n\r\n"
    )
    answers = [ok_response(content), chunked]
    offsets = [(a, i) for a in range(2) for i in range(1, len(answers[a]))]
    turn = iter(offsets)

    def split(_body: bytes) -> tuple[list[bytes], bool]:
        which, at = next(turn)
        return [answers[which][:at], answers[which][at:]], False

    async def run(url: str) -> tuple[list[bytes], int]:
        client = Http1Client(idle_s=60)
        got = []
        for _ in offsets:
            response = await client.post(f"{url}/v1/completions", b"{}", [])
            got.append(await response.aread())
        await client.aclose()
        return got, client.dead_reuses

    with RawUpstream(split, gap_s=0.001) as up:
        got, dead = asyncio.run(run(up.url))
        assert up.requests == len(offsets)
        # one connection: the server thread sees the client's close a moment later
        wait_for(lambda: up.closed_by_peer >= 1, "the pooled connection never closed")
        assert up.closed_by_peer == 1
    assert got == [content] * len(offsets) and dead == 0


def test_dead_pooled_connections_are_dropped_before_reuse() -> None:
    """An upstream that closes every connection after answering (while announcing
    keep-alive): no request is ever written to one of those dead connections."""

    def answer_and_close(body: bytes) -> tuple[list[bytes], bool]:
        return [ok_response(completion())], True

    async def run(url: str) -> Http1Client:
        client = Http1Client()
        for _ in range(26):
            response = await client.post(f"{url}/v1/completions", b"{}", [])
            assert response.status_code == 200 and await response.aread() == completion()
            await asyncio.sleep(0.02)  # the server's close reaches this process
        await client.aclose()
        return client

    with RawUpstream(answer_and_close) as up:
        client = asyncio.run(run(up.url))
        assert up.requests == 26
    assert client.dead_reuses == 0 and client.stale_dropped == 25


def test_idle_connections_expire_before_the_server_keep_alive() -> None:
    async def run(url: str) -> Http1Client:
        client = Http1Client(idle_s=0.05)
        for _ in range(3):
            response = await client.post(f"{url}/v1/completions", b"{}", [])
            await response.aread()
            await asyncio.sleep(0.1)
        await client.aclose()
        return client

    with RawUpstream(lambda _b: ([ok_response(completion())], False)) as up:
        client = asyncio.run(run(up.url))
    assert client.stale_dropped == 2 and client.dead_reuses == 0
