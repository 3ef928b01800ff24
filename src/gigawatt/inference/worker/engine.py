"""The generation engine: a local Hugging Face causal LM run by one thread, in batches.

Requests queue up; the engine thread takes up to ``max_batch_size`` of them at once, pads
their prompts on the left and decodes them together, one token per step for every sequence,
with the key/value cache. Each sequence stops on its own (end-of-sequence token, a stop
string, its ``max_tokens``, or its client going away); the batch ends when all have. Requests
arriving meanwhile form the next batch. Weights are read from the local directory only
(``local_files_only=True``): nothing is ever downloaded.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gigawatt.inference.worker.decoding import TextStream, sample

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Token:
    """New text of one sequence and its running token count."""

    text: str
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Finished:
    """A sequence ended: ``stop`` or ``length``; an ``error`` message if generation failed."""

    reason: str
    completion_tokens: int
    error: str | None = None


Event = Token | Finished


@dataclass
class Generation:
    """One sequence to generate; events go to ``events`` on the event loop ``loop``."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stops: list[str]
    seed: int | None
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: bool = False

    def emit(self, event: Event) -> None:
        """Hand an event to the waiting coroutine (thread-safe)."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)


def pick_device(requested: str) -> str:
    """``cuda`` when asked for or (``auto``) available, else ``cpu``."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


class GenerationEngine:
    """Loads the model once and serves :class:`Generation` requests from a thread."""

    def __init__(self, model_path: str, max_batch_size: int = 8, device: str = "auto") -> None:
        self.device = pick_device(device)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
        self.model: Any = cast(Any, model).to(self.device)
        self.model.eval()
        self.max_batch_size = max_batch_size
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        self.context_length = int(limit or 2048)
        self.eos_ids = self._eos_ids()
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (min(self.eos_ids) if self.eos_ids else 0))
        self._pending: queue.Queue[Generation | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="gigawatt-engine", daemon=True)
        self.batches = 0
        self.largest_batch = 0

    def _eos_ids(self) -> set[int]:
        found: set[int] = set()
        for source in (self.model.config, getattr(self.model, "generation_config", None)):
            value = getattr(source, "eos_token_id", None) if source is not None else None
            if isinstance(value, int):
                found.add(value)
            elif isinstance(value, list | tuple):
                found.update(int(v) for v in value)
        if self.tokenizer.eos_token_id is not None:
            found.add(int(self.tokenizer.eos_token_id))
        return found

    def start(self) -> None:
        """Start the engine thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the engine thread to finish after the current batch."""
        self._pending.put(None)

    def submit(self, generation: Generation) -> None:
        """Queue a sequence for the next batch."""
        self._pending.put(generation)

    def _run(self) -> None:
        while True:
            first = self._pending.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch_size:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._pending.put(None)
                    break
                batch.append(more)
            batch = [g for g in batch if not g.cancelled]
            if not batch:
                continue
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                with torch.inference_mode():
                    self._generate(batch)
            except Exception as exc:  # a failed batch fails its requests, not the worker
                log.exception("generation failed")
                for g in batch:
                    g.emit(Finished("error", 0, f"generation failed: {type(exc).__name__}"))

    def _generate(self, batch: list[Generation]) -> None:
        width = max(len(g.prompt_ids) for g in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, g in enumerate(batch):
            n = len(g.prompt_ids)
            ids[row, width - n :] = torch.tensor(g.prompt_ids, dtype=torch.long)
            mask[row, width - n :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        past = out.past_key_values
        logits = out.logits[:, -1, :]
        last_pos = positions[:, -1]
        streams = [TextStream(self.tokenizer, g.stops) for g in batch]
        generators = [_generator(g.seed) for g in batch]
        done = [False] * len(batch)
        for _ in range(max(g.max_tokens for g in batch)):
            next_ids = [self.pad_id] * len(batch)
            for row, g in enumerate(batch):
                if done[row]:
                    continue
                if g.cancelled:
                    done[row] = True
                    continue
                token = sample(logits[row], g.temperature, g.top_p, generators[row])
                next_ids[row] = token
                done[row] = self._advance(g, streams[row], token)
            if all(done):
                return
            step = torch.tensor(next_ids, dtype=torch.long, device=self.device).unsqueeze(1)
            mask = torch.cat([mask, torch.ones_like(step)], dim=1)
            last_pos = last_pos + 1
            out = self.model(
                input_ids=step,
                attention_mask=mask,
                position_ids=last_pos.unsqueeze(1),
                past_key_values=past,
                use_cache=True,
            )
            past = out.past_key_values
            logits = out.logits[:, -1, :]

    def _advance(self, g: Generation, stream: TextStream, token: int) -> bool:
        """Add one sampled token to a sequence; True when the sequence is finished."""
        if token in self.eos_ids:
            stream.tokens += 1
            self._finish(g, stream, "stop")
            return True
        text, stopped = stream.push(token)
        if stopped:
            if text:
                g.emit(Token(text, stream.tokens))
            g.emit(Finished("stop", stream.tokens))
            return True
        if stream.tokens >= g.max_tokens:
            if text:
                g.emit(Token(text, stream.tokens))
            self._finish(g, stream, "length")
            return True
        g.emit(Token(text, stream.tokens))
        return False

    @staticmethod
    def _finish(g: Generation, stream: TextStream, reason: str) -> None:
        rest = stream.rest()
        if rest:
            g.emit(Token(rest, stream.tokens))
        g.emit(Finished(reason, stream.tokens))


def _generator(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
