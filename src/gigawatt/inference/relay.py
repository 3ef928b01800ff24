"""Relay an upstream SSE stream to the client while counting what it carries.

The gateway always asks the upstream for usage, so the last chunk says the exact counts;
Gigawatt's own workers also put the running usage on every chunk. The relay keeps the latest
usage it saw and the number of content chunks, and writes the request's single usage record:

- when the upstream finishes (``[DONE]``): ``completed``, the final usage;
- when the client goes away mid-stream: ``client_disconnected``, what was generated so far
  (the running usage, else the content chunks relayed, one token each);
- when the upstream breaks or sends an error: ``upstream_error``, nothing billed.

The usage chunk is passed to the client only if it asked for it (``include_usage``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gigawatt.inference.errors import UpstreamError, error_body
from gigawatt.inference.http1 import HttpError, Response
from gigawatt.inference.sse import DONE, SseParser, event
from gigawatt.inference.token_accounting import RequestOutcome
from gigawatt.inference.wire import Usage, usage_of

if TYPE_CHECKING:
    from gigawatt.inference.gateway import AdmittedRequest, Gateway
    from gigawatt.inference.upstream import Target


def content_pieces(chunk: dict[str, Any]) -> int:
    """How many choices of a chunk carry new text (one generated token each, at least)."""
    count = 0
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if text:
            count += 1
    return count


class StreamRelay:
    """One streaming request: relays events and meters exactly once."""

    def __init__(
        self, gateway: Gateway, prep: AdmittedRequest, target: Target, response: Response
    ) -> None:
        self.gateway = gateway
        self.prep = prep
        self.target = target
        self.response = response
        self.usage: Usage | None = None
        self.pieces = 0
        self.client_usage = prep.request.include_usage()
        opts = prep.request.stream_options
        self.client_continuous = opts is not None and opts.continuous_usage_stats
        self.served = prep.billed_entry
        self.rename = target.model != self.served.id
        self.outcome: RequestOutcome | None = None
        self.finished = False
        #: Set when the client's connection is gone (the relay stops at its next read).
        self.client_gone = False

    def _shape(self, data: str) -> bytes | None:
        """The event to send for one upstream ``data`` string (None: send nothing)."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise UpstreamError("upstream sent an event that is not JSON") from None
        if not isinstance(chunk, dict):
            raise UpstreamError("upstream sent an event that is not a JSON object")
        if "error" in chunk and "choices" not in chunk:
            error = chunk.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise UpstreamError(f"upstream failed mid-stream: {message or error}")
        usage = usage_of(chunk)
        if usage is not None:
            self.usage = usage
        self.pieces += content_pieces(chunk)
        final_usage = not chunk.get("choices") and usage is not None
        if final_usage and not self.client_usage:
            return None
        changed = self.rename
        if self.rename:
            chunk["model"] = self.served.id
        if self.target.worker and not self.client_continuous and not final_usage:
            if self.client_usage:
                changed = changed or chunk.get("usage") is not None
                chunk["usage"] = None
            elif "usage" in chunk:
                del chunk["usage"]
                changed = True
        return event(chunk) if changed else f"data: {data}\n\n".encode()

    def _shape_all(self, events: list[str]) -> tuple[list[bytes], bool]:
        """The events to send for a batch of upstream events, and whether ``[DONE]`` came."""
        batch: list[bytes] = []
        for data in events:
            if data.strip() == "[DONE]":
                return batch, True
            out = self._shape(data)
            if out is not None:
                batch.append(out)
        return batch, False

    def _generated(self) -> RequestOutcome:
        """What to bill for a stream the client left."""
        if self.usage is not None:
            prompt, completion = self.usage.prompt_tokens, self.usage.completion_tokens
        else:
            prompt, completion = 0, self.pieces
        reason = "client disconnected mid-stream; billed the tokens generated until then"
        if self.usage is None:
            reason += " (upstream reported no usage: content chunks counted, prompt not billed)"
        return RequestOutcome("client_disconnected", prompt, completion, reason)

    async def run(self) -> AsyncGenerator[bytes, None]:
        """The client's event stream."""
        parser = SseParser()
        done = False
        tail: list[bytes] = []
        try:
            async for raw in self.response.aiter_raw():
                # Let the client watcher run between reads even when the upstream's data is
                # already buffered (a read then never suspends), so a client that left stops
                # the relay here rather than after the whole stream.
                await anyio.lowlevel.checkpoint()
                if self.client_gone:
                    return
                if done:  # read to the end, so the connection goes back to the pool
                    continue
                batch, done = self._shape_all(parser.feed(raw))
                if done:  # the last events leave with [DONE], after metering
                    tail = batch
                elif batch:  # the events of one upstream read leave in one write
                    yield b"".join(batch)
            if not done:
                tail, done = self._shape_all(parser.close())
            if not done:
                raise UpstreamError("upstream closed the stream before [DONE]")
            if self.usage is None:
                self.outcome = RequestOutcome(
                    "completed",
                    0,
                    self.pieces,
                    "upstream reported no usage: content chunks counted, prompt not billed",
                )
            else:
                self.outcome = RequestOutcome(
                    "completed", self.usage.prompt_tokens, self.usage.completion_tokens
                )
            await self.gateway.meter(self.prep, self.outcome)
            yield b"".join([*tail, DONE])
        except UpstreamError as exc:
            self.outcome = RequestOutcome(
                "upstream_error",
                0,
                0,
                f"{exc.message}; {self.pieces} content chunks had been relayed, nothing billed",
            )
            await self.gateway.meter(self.prep, self.outcome)
            yield event(error_body(502, exc.code, exc.message))
        except HttpError as exc:
            message = f"upstream stream broke: {exc}"
            self.outcome = RequestOutcome(
                "upstream_error",
                0,
                0,
                f"{message}; {self.pieces} content chunks had been relayed, nothing billed",
            )
            await self.gateway.meter(self.prep, self.outcome)
            yield event(error_body(502, "upstream_error", message))
        finally:
            with anyio.CancelScope(shield=True):
                await self.finish()

    async def finish(self) -> None:
        """Close the upstream stream and, if nothing was metered yet (the client went away,
        possibly before the stream even started), meter what was generated. Idempotent."""
        if self.finished:
            return
        self.finished = True
        self.gateway.track(self.target, -1)
        await self.response.aclose()
        if self.outcome is None:
            self.outcome = self._generated()
            await self.gateway.meter(self.prep, self.outcome)


class MeteredStream(StreamingResponse):
    """A streaming response that meters its request whatever happens to the connection.

    A task watches the client's connection while events are relayed; when the client goes
    away the relay is cancelled at once (it checks between upstream reads, even when the
    upstream is ahead and its data is already buffered), the upstream connection is closed —
    which cancels the upstream's generation — and what the upstream produced until then is
    billed as ``client_disconnected``.
    """

    def __init__(self, relay: StreamRelay, headers: dict[str, str]) -> None:
        self.events = relay.run()
        super().__init__(self.events, media_type="text/event-stream", headers=headers)
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream; then make sure the request was metered and upstream closed."""
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    self.relay.client_gone = True
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                async for chunk in self.events:
                    if self.relay.client_gone:
                        break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if not self.relay.client_gone:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        except OSError:  # ASGI 2.4 servers raise on a send to a closed connection
            self.relay.client_gone = True
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()
                await self.relay.finish()
