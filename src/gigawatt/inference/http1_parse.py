"""Sans-I/O parsing of HTTP/1.1 responses for :mod:`gigawatt.inference.http1`.

:func:`parse_head` reads a status line and header block; :class:`BodyDecoder` takes the body's
bytes in whatever pieces the network delivers and returns its content, for the three framings
(``Content-Length``, ``chunked``, until the connection closes). Both are strict: anything
malformed — a status line that is not ``HTTP/1.x NNN``, a header line without a name, a
``Content-Length`` that is not digits (``12abc``) or disagrees with itself, a chunk size that
is not hexadecimal, chunk data not followed by CRLF, a body cut short — raises
:class:`BrokenResponse`, and the caller closes the connection.
"""

from __future__ import annotations

import re
from typing import Literal

_STATUS = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?")
_MAX_LINE = 8192

Framing = Literal["length", "chunked", "close"]


class HttpError(Exception):
    """Base of the HTTP client's errors."""


class BrokenResponse(HttpError):
    """The answer was malformed or cut short."""


class Head:
    """A parsed status line and header block."""

    __slots__ = ("framing", "headers", "keep_alive", "length", "status")

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        encoding = headers.get("transfer-encoding")
        self.length = 0
        if status in (204, 304) or 100 <= status < 200:
            self.framing: Framing = "length"
        elif encoding is not None:
            codings = [c.strip().lower() for c in encoding.split(",")]
            self.framing = "chunked" if codings[-1] == "chunked" else "close"
        elif "content-length" in headers:
            self.framing = "length"
            self.length = int(headers["content-length"])
        else:
            self.framing = "close"
        self.keep_alive = (
            headers.get("connection", "").lower() != "close" and self.framing != "close"
        )


def parse_head(head: bytes) -> Head:
    """The status and headers of a response head (ending in an empty line)."""
    lines = head.split(b"\r\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise BrokenResponse("empty response head")
    status = _STATUS.fullmatch(lines[0])
    if status is None:
        raise BrokenResponse(f"malformed status line {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or _TOKEN.fullmatch(name) is None:
            raise BrokenResponse(f"malformed header line {line[:100]!r}")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        if key == "content-length":
            values = {v.strip() for v in text.split(",")}
            if len(values) != 1 or _DIGITS.fullmatch(next(iter(values)).encode()) is None:
                raise BrokenResponse(f"malformed Content-Length {text[:40]!r}")
            text = values.pop()
            if key in headers and headers[key] != text:
                raise BrokenResponse("conflicting Content-Length headers")
        elif key in headers:
            text = f"{headers[key]}, {text}"
        headers[key] = text
    return Head(int(status.group(1)), headers)


class BodyDecoder:
    """Incremental decoder of one response body: feed bytes, get content; :meth:`end` at EOF.

    ``done`` is set once the body is complete; ``extra`` when bytes followed its end (the
    connection must then not be reused). A framing error after good content in the same bytes
    is held back so that the content is returned first: :meth:`raise_pending` (and the next
    :meth:`feed` or :meth:`end`) raises it.
    """

    def __init__(self, framing: Framing, length: int = 0) -> None:
        self.framing = framing
        self.done = framing == "length" and length == 0
        self.extra = False
        self._remaining = length
        self._buffer = b""
        #: chunked: "size" (reading a size line), "data", "crlf" (after data), "trailer".
        self._state = "size"
        self._error: BrokenResponse | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """The content carried by ``data`` (possibly empty)."""
        self.raise_pending()
        if not data:
            return []
        if self.done:
            self.extra = True
            return []
        if self.framing == "close":
            return [data]
        if self.framing == "length":
            if len(data) > self._remaining:
                self.extra = True
                data = data[: self._remaining]
            self._remaining -= len(data)
            self.done = self._remaining == 0
            return [data]
        return self._chunked(data)

    def end(self) -> None:
        """The connection closed: raise unless the body was complete."""
        self.raise_pending()
        if not self.done and self.framing != "close":
            raise BrokenResponse("connection closed before the end of the body")
        self.done = True

    def raise_pending(self) -> None:
        """Raise the framing error found after the content :meth:`feed` last returned."""
        if self._error is not None:
            raise self._error

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_LINE:
                raise BrokenResponse("chunk size or trailer line too long")
            return None
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _chunked(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        try:
            self._decode_chunks(out)
        except BrokenResponse as exc:
            if not any(out):
                raise
            # the chunks before the error arrived in the same read: hand them over first
            self._error = exc
            self._buffer = b""
        if self.done and self._buffer:
            self.extra = True
            self._buffer = b""
        return [p for p in out if p]

    def _decode_chunks(self, out: list[bytes]) -> None:
        while self._buffer and not self.done:
            if self._state == "data":
                piece = self._buffer[: self._remaining]
                self._buffer = self._buffer[len(piece) :]
                self._remaining -= len(piece)
                out.append(piece)
                if self._remaining == 0:
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(self._buffer) < 2:
                    if self._buffer != b"\r":
                        raise BrokenResponse("chunk data not followed by CRLF")
                    break
                if self._buffer[:2] != b"\r\n":
                    raise BrokenResponse("chunk data not followed by CRLF")
                self._buffer = self._buffer[2:]
                self._state = "size"
            else:
                line = self._line()
                if line is None:
                    break
                if self._state == "trailer":
                    if line == b"":
                        self.done = True
                    elif b":" not in line:
                        raise BrokenResponse(f"malformed trailer line {line[:100]!r}")
                    continue
                size = _CHUNK_SIZE.fullmatch(line)
                if size is None:
                    raise BrokenResponse(f"malformed chunk size {line[:40]!r}")
                self._remaining = int(size.group(1), 16)
                self._state = "data" if self._remaining else "trailer"
