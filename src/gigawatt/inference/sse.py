"""Server-sent events as OpenAI streams them: ``data: <json>\\n\\n`` … ``data: [DONE]\\n\\n``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

DONE = b"data: [DONE]\n\n"


def event(payload: dict[str, Any]) -> bytes:
    """One ``data:`` event carrying ``payload`` as compact JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class SseParser:
    """Incremental parser: feed bytes, get the ``data`` of each complete event.

    Handles the three line ends of the SSE specification (``\\n``, ``\\r\\n``, ``\\r``),
    multi-line data (joined with ``\\n``), comments and other fields (ignored), and events
    split anywhere across chunks — a ``\\r\\n`` split between two chunks included: a chunk's
    trailing ``\\r`` waits for the next chunk to say whether a ``\\n`` follows it.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._cr = b""

    def feed(self, chunk: bytes) -> list[str]:
        """The data strings of the events completed by ``chunk``."""
        if self._cr or b"\r" in chunk:
            chunk = self._cr + chunk
            self._cr = b""
            if chunk.endswith(b"\r"):
                chunk, self._cr = chunk[:-1], b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._buffer += chunk
        out: list[str] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return out
            block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            data = [
                line[5:].removeprefix(b" ")
                for line in block.split(b"\n")
                if line.startswith(b"data:") or line == b"data"
            ]
            if data:
                out.append(b"\n".join(data).decode("utf-8", "replace"))

    def close(self) -> list[str]:
        """The data of events completed by the end of the stream (a pending ``\\r`` ends a
        line); a trailing partial event is dropped."""
        if not self._cr:
            return []
        self._cr = b""
        return self.feed(b"\n")


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The data strings of every event in a byte stream (a trailing partial event is dropped)."""
    parser = SseParser()
    async for chunk in chunks:
        for data in parser.feed(chunk):
            yield data
    for data in parser.close():
        yield data
