"""The worker's HTTP API: OpenAI-compatible chat and text completions over one local model.

``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``
(streaming or not, ``stream_options.include_usage`` and vLLM's ``continuous_usage_stats``).
Errors are in the OpenAI format; a prompt that does not fit the context is a 400
``context_length_exceeded``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gigawatt.core.errors import GigawattError, NotFound
from gigawatt.inference.errors import BadRequest, body_of, error_body
from gigawatt.inference.sse import DONE, event
from gigawatt.inference.wire import (
    ChatCompletionRequest,
    InferenceRequest,
    Kind,
    Usage,
    parse_body,
)
from gigawatt.inference.worker.engine import Finished, Generation, GenerationEngine, Token
from gigawatt.inference.worker.prompts import chat_prompt_ids, text_prompt_ids

_DEFAULT_MAX_TOKENS: dict[Kind, int] = {"chat": 256, "text": 16}


def _error(exc: GigawattError) -> JSONResponse:
    status, body, headers = body_of(exc)
    return JSONResponse(body, status_code=status, headers=headers)


class _Cancelling(StreamingResponse):
    """A stream that cancels its generation however the connection ends."""

    def __init__(self, content: AsyncIterator[bytes], generation: Generation) -> None:
        super().__init__(content, media_type="text/event-stream")
        self.generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.generation.cancelled = True


class Worker:
    """Request handling around an :class:`GenerationEngine`."""

    def __init__(self, engine: GenerationEngine, model_id: str) -> None:
        self.engine = engine
        self.model_id = model_id
        self.created = int(time.time())

    def _generation(self, req: InferenceRequest, kind: Kind) -> Generation:
        if req.model != self.model_id:
            raise NotFound(
                f"The model `{req.model}` does not exist (this worker serves `{self.model_id}`)."
            )
        if (req.n or 1) != 1:
            raise BadRequest("this worker generates one choice per request (n must be 1)", "n")
        tok = self.engine.tokenizer
        if isinstance(req, ChatCompletionRequest):
            ids = chat_prompt_ids(tok, req.messages)
        else:
            ids = text_prompt_ids(tok, req.prompt, int(self.engine.model.config.vocab_size))
        if not ids:
            raise BadRequest("the prompt is empty", "messages" if kind == "chat" else "prompt")
        room = self.engine.context_length - len(ids)
        asked = req.token_limit()
        wanted = asked if asked is not None else min(_DEFAULT_MAX_TOKENS[kind], max(room, 1))
        if len(ids) + wanted > self.engine.context_length:
            exc = BadRequest(
                f"This model's maximum context length is {self.engine.context_length} tokens. "
                f"However, you requested {len(ids) + wanted} tokens ({len(ids)} in the "
                f"{'messages' if kind == 'chat' else 'prompt'}, {wanted} in the completion). "
                "Please reduce the length of the messages or completion.",
                "messages" if kind == "chat" else "prompt",
            )
            exc.code = "context_length_exceeded"
            raise exc
        temperature = 1.0 if req.temperature is None else req.temperature
        top_p = 1.0 if req.top_p is None else req.top_p
        loop = asyncio.get_running_loop()
        return Generation(ids, wanted, temperature, top_p, req.stops(), req.seed, loop)

    async def handle(self, request: Request, kind: Kind) -> Response:
        """One completion request."""
        try:
            req, _ = parse_body(await request.body(), kind)
            gen = self._generation(req, kind)
        except GigawattError as exc:
            return _error(exc)
        self.engine.submit(gen)
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{secrets.token_hex(12)}"
        if req.stream:
            return _Cancelling(self._stream(rid, req, kind, gen), gen)
        try:
            text, finished = await self._collect(gen)
        finally:
            gen.cancelled = True
        if finished.error:
            body = error_body(500, "generation_failed", finished.error)
            return JSONResponse(body, status_code=500)
        usage = Usage.of(len(gen.prompt_ids), finished.completion_tokens)
        if kind == "chat":
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}}
        else:
            echo = getattr(req, "echo", False) and isinstance(getattr(req, "prompt", None), str)
            choice = {"index": 0, "text": (getattr(req, "prompt", "") if echo else "") + text}
        choice.update(logprobs=None, finish_reason=finished.reason)
        body = self._envelope(rid, kind, False) | {"choices": [choice], "usage": usage.model_dump()}
        return JSONResponse(body)

    def _envelope(self, rid: str, kind: Kind, chunk: bool) -> dict[str, Any]:
        obj = ("chat.completion" if kind == "chat" else "text_completion") + (
            ".chunk" if chunk and kind == "chat" else ""
        )
        return {"id": rid, "object": obj, "created": self.created, "model": self.model_id}

    @staticmethod
    async def _collect(gen: Generation) -> tuple[str, Finished]:
        parts: list[str] = []
        while True:
            ev = await gen.events.get()
            if isinstance(ev, Token):
                parts.append(ev.text)
            else:
                return "".join(parts), ev

    async def _stream(
        self, rid: str, req: InferenceRequest, kind: Kind, gen: Generation
    ) -> AsyncIterator[bytes]:
        opts = req.stream_options
        continuous = opts is not None and opts.continuous_usage_stats
        final_usage = opts is not None and opts.include_usage
        prompt = len(gen.prompt_ids)
        base = self._envelope(rid, kind, True)

        def chunk(piece: str | None, finish: str | None, done: int) -> bytes:
            if kind == "chat":
                delta: dict[str, Any] = {} if piece is None else {"content": piece}
                choice: dict[str, Any] = {"index": 0, "delta": delta}
            else:
                choice = {"index": 0, "text": piece or ""}
            choice.update(logprobs=None, finish_reason=finish)
            body = base | {"choices": [choice]}
            if continuous:
                body["usage"] = Usage.of(prompt, done).model_dump()
            elif final_usage:
                body["usage"] = None
            return event(body)

        try:
            if kind == "chat":
                first = chunk("", None, 0)
                yield first.replace(
                    b'"delta":{"content":""}', b'"delta":{"role":"assistant","content":""}'
                )
            while True:
                ev = await gen.events.get()
                if isinstance(ev, Token):
                    if ev.text:
                        yield chunk(ev.text, None, ev.completion_tokens)
                    continue
                if ev.error:
                    yield event(error_body(500, "generation_failed", ev.error))
                    return
                yield chunk(None if kind == "chat" else "", ev.reason, ev.completion_tokens)
                if final_usage:
                    usage = Usage.of(prompt, ev.completion_tokens).model_dump()
                    yield event(base | {"choices": [], "usage": usage})
                yield DONE
                return
        finally:
            gen.cancelled = True

    async def health(self, _request: Request) -> Response:
        """Liveness and batching statistics."""
        return JSONResponse(
            {
                "status": "ok",
                "model": self.model_id,
                "device": self.engine.device,
                "pid": os.getpid(),
                "batches": self.engine.batches,
                "largest_batch": self.engine.largest_batch,
            }
        )

    async def models(self, _request: Request) -> Response:
        """The one model served."""
        item = {
            "id": self.model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "gigawatt",
        }
        return JSONResponse({"object": "list", "data": [item]})


def create_worker_app(
    worker: Worker,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """The worker's ASGI app."""

    def post(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await worker.handle(request, kind)

        return endpoint

    routes = [
        Route("/health", worker.health, methods=["GET"]),
        Route("/v1/models", worker.models, methods=["GET"]),
        Route("/v1/chat/completions", post("chat"), methods=["POST"]),
        Route("/v1/completions", post("text"), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
