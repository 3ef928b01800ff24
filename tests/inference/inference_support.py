"""Helpers for the inference tests: servers in threads, a fake OpenAI upstream, a tiny model.

The fake upstream is a small OpenAI-compatible server written here: its reply to a request
is ``max_tokens`` words (default 5), one per streamed chunk, and its prompt token count is
the number of whitespace-separated words in the request's messages or prompt. Special model
names make it misbehave: ``fail-500`` (HTTP 500), ``reject-400`` (an OpenAI 400 error),
``die-mid-stream`` (the connection drops after two chunks). An ``x_delay`` field slows the
stream down (seconds between chunks).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server_thread import ServerThread, free_port

PY = sys.executable
__all__ = ["PY", "FakeUpstream", "ServerThread", "free_port"]


def _words(payload: dict[str, Any]) -> int:
    if "messages" in payload:
        return sum(len(str(m.get("content") or "").split()) for m in payload["messages"])
    prompt = payload.get("prompt")
    return len(prompt.split()) if isinstance(prompt, str) else len(prompt or [])


class FakeUpstream:
    """The fake OpenAI-compatible server; ``requests`` records every body it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        #: One entry per stream that ended: ``(content chunks sent, whether it finished)``;
        #: a stream its client (the gateway) dropped ends unfinished.
        self.streams: list[tuple[int, bool]] = []
        #: While set, every request is answered HTTP 500 (an upstream that went bad).
        self.failing = False
        #: Seconds to wait before answering (an upstream that hangs before its first byte).
        self.head_delay = 0.0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._text, methods=["POST"]),
            ]
        )

    async def _chat(self, request: Request) -> Response:
        return await self._answer(request, "chat")

    async def _text(self, request: Request) -> Response:
        return await self._answer(request, "text")

    async def _answer(self, request: Request, kind: str) -> Response:
        payload = json.loads(await request.body())
        self.requests.append(payload)
        model = payload["model"]
        if self.head_delay:
            await asyncio.sleep(self.head_delay)
        if model == "fail-500" or self.failing:
            return JSONResponse({"error": {"message": "upstream exploded"}}, status_code=500)
        if model == "reject-400":
            error = {
                "message": "This model's maximum context length is 8 tokens.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
            return JSONResponse({"error": error}, status_code=400)
        n = payload.get("max_tokens") or 5
        words = [f"w{i}" for i in range(n)]
        usage = {
            "prompt_tokens": _words(payload),
            "completion_tokens": n,
            "total_tokens": _words(payload) + n,
        }
        if not payload.get("stream"):
            if kind == "chat":
                choice: dict[str, Any] = {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": " ".join(words)},
                }
            else:
                choice = {"index": 0, "text": " ".join(words), "finish_reason": "length"}
            body = {
                "id": "up-1",
                "object": "chat.completion" if kind == "chat" else "text_completion",
                "created": 1,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
            return JSONResponse(body)
        return StreamingResponse(
            self._stream(payload, kind, words, usage), media_type="text/event-stream"
        )

    async def _stream(
        self, payload: dict[str, Any], kind: str, words: list[str], usage: dict[str, int]
    ) -> AsyncIterator[bytes]:
        delay = float(payload.get("x_delay") or 0)
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
        base = {"id": "up-1", "object": obj, "created": 1, "model": payload["model"]}
        sent, finished = 0, False
        try:
            async for chunk in self._chunks(payload, kind, words, usage, base, delay):
                yield chunk
                sent += chunk.startswith(b"data: {") and b'"choices": []' not in chunk
            finished = True
        finally:
            self.streams.append((sent, finished))

    async def _chunks(
        self,
        payload: dict[str, Any],
        kind: str,
        words: list[str],
        usage: dict[str, int],
        base: dict[str, Any],
        delay: float,
    ) -> AsyncIterator[bytes]:
        options = payload.get("stream_options") or {}
        include, continuous = options.get("include_usage"), options.get("continuous_usage_stats")
        prompt = usage["prompt_tokens"]
        for i, word in enumerate(words):
            if payload["model"] == "die-mid-stream" and i == 2:
                raise RuntimeError("upstream died")
            text = word if i == 0 else " " + word
            choice: dict[str, Any] = (
                {"index": 0, "delta": {"content": text}, "finish_reason": None}
                if kind == "chat"
                else {"index": 0, "text": text, "finish_reason": None}
            )
            chunk: dict[str, Any] = {**base, "choices": [choice]}
            if continuous:
                chunk["usage"] = {
                    "prompt_tokens": prompt,
                    "completion_tokens": i + 1,
                    "total_tokens": prompt + i + 1,
                }
            yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
            if delay:
                await asyncio.sleep(delay)
        if include:
            yield b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


def build_tiny_model(path: Path, context: int = 64) -> Path:
    """A 2-layer Llama with random weights and a word-level tokenizer trained on a few
    sentences (no end-of-sequence token, so it always generates ``max_tokens`` tokens)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"])
    corpus = [
        "the cat sat on the mat",
        "hello world how are you today",
        "a quick brown fox jumps over the lazy dog",
        "user assistant system : ,",
    ]
    tok.train_from_iterator(corpus, trainer)
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    fast.save_pretrained(str(path))
    config = LlamaConfig(
        vocab_size=fast.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=context,
        eos_token_id=None,
        bos_token_id=None,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(path))
    return path


class WorkerProcess:
    """``python -m gigawatt.inference.worker`` on a free port, stopped on exit."""

    def __init__(self, model_path: Path, model_id: str, log: Path, batch: int = 8) -> None:
        args = [
            PY,
            "-m",
            "gigawatt.inference.worker",
            "--model-path",
            str(model_path),
            "--model-id",
            model_id,
            "--port",
            "0",
            "--max-batch-size",
            str(batch),
        ]
        self.log = log
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log.open("wb"))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        assert line, f"worker exited: {log.read_text()[-3000:]}"
        self.url: str = json.loads(line)["url"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=5).json()
        return found
