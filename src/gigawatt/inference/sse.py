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

    Handles ``\\r\\n`` line ends, multi-line data (joined with ``\\n``), comments and other
    fields (ignored), and events split anywhere across chunks.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        """The data strings of the events completed by ``chunk``."""
        self._buffer += chunk.replace(b"\r\n", b"\n")
        out: list[str] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return out
            block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            data = [
                line[5:].removeprefix(b" ")
                for line in block.split(b"\n")
                if line.startswith(b"data:")
            ]
            if data:
                out.append(b"\n".join(data).decode("utf-8", "replace"))


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The data strings of every event in a byte stream (a trailing partial event is dropped)."""
    parser = SseParser()
    async for chunk in chunks:
        for data in parser.feed(chunk):
            yield data
