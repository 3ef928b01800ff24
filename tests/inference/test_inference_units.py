"""Pure parts of the gateway (SSE, limits, wire parsing) and the HTTP/1.1 client against raw
socket servers written here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from inference_support import free_port

from gigawatt.core.clock import ManualClock
from gigawatt.inference.errors import BadRequest, BudgetExceeded, PassThrough, RateLimited, body_of
from gigawatt.inference.gateway import upstream_status_error
from gigawatt.inference.http1 import BrokenResponse, ConnectFailed, Http1Client, ReadTimedOut
from gigawatt.inference.limits import (
    Limits,
    Subject,
    Usage,
    check_usage,
    minute_window,
    price_text,
    seconds_left_in_minute,
)
from gigawatt.inference.relay import content_pieces
from gigawatt.inference.sse import SseParser, event
from gigawatt.inference.token_accounting import LimitCache
from gigawatt.inference.wire import parse_body, usage_of

T0 = 1_794_268_800.0  # 2026-11-10 00:00 UTC


def test_sse_parser_handles_split_events_crlf_and_multiline() -> None:
    parser = SseParser()
    assert parser.feed(b'data: {"a"') == []
    assert parser.feed(b":1}\n\n: comment\n\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n") == [
        '{"a":1}',
        "x\ny",
    ]
    assert parser.feed(b"\n") == ["[DONE]"]
    assert SseParser().feed(event({"k": [1, 2]})) == ['{"k":[1,2]}']


def test_limits_windows_and_decisions() -> None:
    assert minute_window(T0 + 59.9) == minute_window(T0) != minute_window(T0 + 60)
    assert seconds_left_in_minute(T0 + 15) == 45
    key = Subject("key", "k1")
    check_usage(key, Limits(Decimal("1"), None, 10), Usage(Decimal("0.99"), 9), T0)
    with pytest.raises(BudgetExceeded, match=r"spent \$1.00 of its \$1.00 budget for 2026-11"):
        check_usage(key, Limits(budget_usd=Decimal(1)), Usage(Decimal(1), 0), T0)
    with pytest.raises(RateLimited) as info:
        check_usage(key, Limits(tokens_per_minute=10), Usage(Decimal(0), 10), T0 + 50)
    status, _body, headers = body_of(info.value)
    assert (status, headers["Retry-After"]) == (429, "10")
    assert price_text(Decimal("0.150000")) == "0.15" and price_text(Decimal(4)) == "4.00"
    assert price_text(Decimal("0.000125")) == "0.000125"


def test_limit_cache_rereads_after_its_ttl() -> None:
    clock = ManualClock(T0)
    cache = LimitCache(clock, ttl_s=1.0)
    loads: list[int] = []
    current = {"n": 5}

    def load(subjects: list[Subject]) -> dict[Subject, Limits]:
        loads.append(len(subjects))
        return {s: Limits(requests_per_minute=current["n"]) for s in subjects}

    subject = Subject("tenant", "t")
    assert cache.get([subject], load)[subject].requests_per_minute == 5
    current["n"] = 7
    clock.advance(0.5)
    assert cache.get([subject], load)[subject].requests_per_minute == 5
    clock.advance(0.6)
    assert cache.get([subject], load)[subject].requests_per_minute == 7
    assert loads == [1, 1]


def test_wire_parsing_and_usage() -> None:
    request, payload = parse_body(b'{"model":"m","prompt":"p","tools":[1]}', "text")
    assert request.model == "m" and payload["tools"] == [1]  # unknown fields are kept
    with pytest.raises(BadRequest, match="max_tokens"):
        parse_body(b'{"model":"m","prompt":"p","max_tokens":0}', "text")
    with pytest.raises(BadRequest, match="messages"):
        parse_body(b'{"model":"m"}', "chat")
    assert usage_of({"usage": {"prompt_tokens": 2, "completion_tokens": 3}}) is not None
    assert usage_of({"usage": {"prompt_tokens": -1, "completion_tokens": 3}}) is None
    assert usage_of({"usage": None}) is None
    chunk = {"choices": [{"delta": {"content": "a"}}, {"delta": {}}, {"text": "b"}]}
    assert content_pieces(chunk) == 2


def test_upstream_errors_map_to_gateway_errors() -> None:
    relayed = upstream_status_error(400, b'{"error":{"message":"too long","code":"ctx"}}')
    assert isinstance(relayed, PassThrough) and relayed.http_status == 400
    _, body, _ = body_of(relayed)
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "ctx"
    failed = upstream_status_error(503, b"<html>busy</html>")
    assert failed.http_status == 502 and "503" in failed.message


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/x"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


def test_http1_client_bodies_keep_alive_and_failures() -> None:
    async def scenario() -> None:
        served: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    body = await _read_request(reader)
                except asyncio.IncompleteReadError:
                    return
                served.append(body)
                if body == b"chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"
                    )
                elif body == b"close":
                    writer.write(b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nbye")
                    await writer.drain()
                    writer.close()
                    return
                elif body == b"truncated":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                    await writer.drain()
                    writer.close()
                    return
                elif body == b"slow":
                    await asyncio.sleep(1)
                elif body == b"then-hang-up":  # keep-alive answer, then the server goes away
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
                    writer.close()
                    return
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

        server, url = await _serve(handler)
        client = Http1Client(connect_timeout_s=1, read_timeout_s=0.3)
        r = await client.post(url, b"plain", [])
        assert (r.status_code, await r.aread()) == (200, b"ok")
        r = await client.post(url, b"chunked", [])  # same kept-alive connection
        assert [p async for p in r.aiter_raw()] == [b"abc", b"de"]
        r = await client.post(url, b"close", [])
        assert (r.status_code, await r.aread()) == (201, b"bye")
        with pytest.raises(BrokenResponse):
            await (await client.post(url, b"truncated", [])).aread()
        with pytest.raises(ReadTimedOut):
            await client.post(url, b"slow", [])
        assert served == [b"plain", b"chunked", b"close", b"truncated", b"slow"]
        r = await client.post(url, b"then-hang-up", [])
        assert await r.aread() == b"ok"  # its connection went back to the pool, now dead
        r = await client.post(url, b"plain", [])  # retried on a fresh connection
        assert await r.aread() == b"ok"
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectFailed):
            await client.post(f"http://127.0.0.1:{free_port()}/v1/x", b"plain", [])
        await client.aclose()

    asyncio.run(scenario())
