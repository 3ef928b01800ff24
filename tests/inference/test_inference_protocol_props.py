"""Property tests of the hand-written protocol code: an SSE stream or an HTTP/1.1 response
split at every byte offset parses exactly as the unsplit one, and malformed framing is
refused (never a ``ValueError`` or a wrong body)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigawatt.inference.http1_parse import BodyDecoder, BrokenResponse, Framing, parse_head
from gigawatt.inference.sse import SseParser

pytestmark = pytest.mark.inference

_ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=40
)


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """An event stream (random line endings, comments, other fields, multi-line data) and
    the data of its events."""
    out: list[bytes] = []
    expected: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        lines = draw(st.lists(_TEXT, min_size=1, max_size=3))
        if draw(st.booleans()):
            out += [b": keep-alive", draw(_ENDINGS)]
        if draw(st.booleans()):
            out += [b"event: message", draw(_ENDINGS)]
        for line in lines:
            out += [b"data: " + line.encode(), draw(_ENDINGS)]
        # the blank line ending the event (after a lone \r, a \n would extend that ending)
        out.append(draw(st.sampled_from([b"\r\n", b"\r"]) if out[-1] == b"\r" else _ENDINGS))
        expected.append("\n".join(lines))
    return b"".join(out), expected


def parse_sse(pieces: list[bytes]) -> list[str]:
    parser = SseParser()
    found: list[str] = []
    for piece in pieces:
        found += parser.feed(piece)
    return found + parser.close()


@settings(max_examples=150, deadline=None)
@given(sse_streams())
def test_sse_split_at_every_offset_parses_like_unsplit(case: tuple[bytes, list[str]]) -> None:
    stream, expected = case
    assert parse_sse([stream]) == expected
    for i in range(len(stream) + 1):
        assert parse_sse([stream[:i], stream[i:]]) == expected, i
    assert parse_sse([stream[i : i + 1] for i in range(len(stream))]) == expected


def test_sse_crlf_split_between_reads_keeps_events_apart() -> None:
    """The bug this parser had: ``\\r`` ending one read and ``\\n`` starting the next
    merged two events into one."""
    one = b'data: {"a":1}\r\n\r'
    two = b'\ndata: {"b":2}\r\n\r\n'
    assert parse_sse([one, two]) == ['{"a":1}', '{"b":2}']
    assert [json.loads(d) for d in parse_sse([b"data: [1]\r", b"\n\r\n"])] == [[1]]


@st.composite
def bodies(draw: st.DrawFn) -> tuple[Framing, int, bytes, bytes]:
    """A body and its framing on the wire: ``(framing, length, wire bytes, content)``."""
    content = draw(st.binary(max_size=300))
    framing: Framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing != "chunked":
        return framing, len(content), content, content
    cuts = sorted(draw(st.lists(st.integers(0, len(content)), max_size=5)))
    wire: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(content)], strict=True):
        if end > start:
            size = f"{end - start:x}".encode()
            if draw(st.booleans()):
                size = size.upper() + b";ext=1"
            wire += [size, b"\r\n", content[start:end], b"\r\n"]
    wire.append(b"0\r\n")
    if draw(st.booleans()):
        wire.append(b"X-Trailer: yes\r\n")
    wire.append(b"\r\n")
    return framing, 0, b"".join(wire), content


def decode(framing: Framing, length: int, pieces: list[bytes]) -> bytes:
    decoder = BodyDecoder(framing, length)
    out = b"".join(b"".join(decoder.feed(p)) for p in pieces)
    if framing == "close":
        decoder.end()
    assert decoder.done and not decoder.extra
    return out


@settings(max_examples=150, deadline=None)
@given(bodies())
def test_body_split_at_every_offset_decodes_like_unsplit(
    case: tuple[Framing, int, bytes, bytes],
) -> None:
    framing, length, wire, content = case
    assert decode(framing, length, [wire]) == content
    for i in range(len(wire) + 1):
        assert decode(framing, length, [wire[:i], wire[i:]]) == content, i


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_truncated_body_is_broken_never_short(content: bytes) -> None:
    wire = f"{len(content):x}\r\n".encode() + content + b"\r\n0\r\n\r\n"
    for framing, data in (("length", content), ("chunked", wire)):
        for i in range(len(data)):
            decoder = BodyDecoder(framing, len(content))  # type: ignore[arg-type]
            decoder.feed(data[:i])
            with pytest.raises(BrokenResponse):
                decoder.end()


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # size not hex
        b"3\r\nabcX\r\n0\r\n\r\n",  # data longer than its size
        b"-3\r\nabc\r\n0\r\n\r\n",
        b"0x3\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\r\nno colon\r\n\r\n",  # bad trailer
        b"3" * 9000,  # a size line without end
    ],
)
def test_malformed_chunking_is_broken(wire: bytes) -> None:
    decoder = BodyDecoder("chunked")
    with pytest.raises(BrokenResponse):
        for i in range(len(wire)):  # byte by byte: the error surfaces whatever the split
            decoder.feed(wire[i : i + 1])
        decoder.end()


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        b"\r\n\r\n",
    ],
)
def test_malformed_heads_are_broken(head: bytes) -> None:
    with pytest.raises(BrokenResponse):
        parse_head(head)


def test_heads_that_are_fine() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nX-A: 1\r\nX-A: 2\r\n\r\n")
    assert (head.status, head.framing, head.length, head.keep_alive) == (200, "length", 5, True)
    assert head.headers["x-a"] == "1, 2"
    head = parse_head(b"HTTP/1.0 503\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert (head.status, head.framing) == (503, "chunked")
    head = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
    assert not head.keep_alive
    assert parse_head(b"HTTP/1.1 200 OK\r\n\r\n").framing == "close"


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.sampled_from([b"nothex\r\n", b"0x3\r\n", b"-1\r\n"]))
def test_content_before_a_framing_error_in_the_same_read_comes_out_first(
    content: bytes, bad: bytes
) -> None:
    """A good chunk and a broken one in one read (coalesced TCP segments): the good content is
    returned, and the error follows on the next call, never instead of it."""
    decoder = BodyDecoder("chunked")
    got = decoder.feed(f"{len(content):x}\r\n".encode() + content + b"\r\n" + bad)
    assert b"".join(got) == content
    with pytest.raises(BrokenResponse):
        decoder.raise_pending()
    with pytest.raises(BrokenResponse):
        decoder.feed(b"0\r\n\r\n")
    with pytest.raises(BrokenResponse):
        decoder.end()
