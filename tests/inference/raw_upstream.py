"""A raw TCP upstream for protocol tests: it answers each HTTP request with bytes a test chose
(malformed ones included), in the pieces the test chose, and records how connections ended."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

#: Chooses the answer to one request body: ``(pieces to write, close after writing)``.
Script = Callable[[bytes], tuple[list[bytes], bool]]


@dataclass
class RawUpstream:
    """An asyncio TCP server in a daemon thread, answering with :attr:`script`."""

    script: Script
    port: int = 0
    #: Requests served, and connections whose peer (the gateway) closed them first.
    requests: int = 0
    closed_by_peer: int = 0
    gap_s: float = 0.002
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_peer += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.requests += 1
                pieces, close = self.script(body)
                for i, piece in enumerate(pieces):
                    writer.write(piece)
                    await writer.drain()
                    if i < len(pieces) - 1:
                        await asyncio.sleep(self.gap_s)
                if close:
                    return
        finally:
            writer.close()

    def __enter__(self) -> RawUpstream:
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)

            async def start() -> None:
                self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
                self.port = self._server.sockets[0].getsockname()[1]
                started.set()

            self._loop.run_until_complete(start())
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        assert started.wait(10), "raw upstream did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)


def model_of(body: bytes) -> str:
    """The ``model`` of a JSON request body."""
    found = json.loads(body).get("model", "")
    return str(found)


def completion(model: str = "m", prompt: int = 2, completion: int = 3) -> bytes:
    """A valid non-streaming completion body."""
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    body = {
        "id": "raw-1",
        "object": "text_completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "text": "a b c", "finish_reason": "length"}],
        "usage": usage,
    }
    return json.dumps(body).encode()


def ok_response(body: bytes, extra: bytes = b"") -> bytes:
    """An HTTP/1.1 200 with ``Content-Length``."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
