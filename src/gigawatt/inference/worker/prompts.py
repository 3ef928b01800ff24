"""Prompts: chat messages and completion prompts turned into token ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gigawatt.inference.errors import BadRequest
from gigawatt.inference.wire import ChatMessage, Prompt


def _ids(encoded: Any) -> list[int]:
    if isinstance(encoded, Mapping) or hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    if hasattr(encoded, "tolist"):
        encoded = encoded.tolist()
    if encoded and isinstance(encoded[0], list):
        encoded = encoded[0]
    return [int(i) for i in encoded]


def chat_prompt_ids(tokenizer: Any, messages: Sequence[ChatMessage]) -> list[int]:
    """The model's chat template applied to ``messages`` (a plain ``role: text`` transcript
    ending in ``assistant:`` when the tokenizer has no template)."""
    plain = [{"role": m.role, "content": m.text()} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(plain, add_generation_prompt=True, tokenize=True)
        return _ids(encoded)
    text = "".join(f"{m['role']}: {m['content']}\n" for m in plain) + "assistant:"
    return _ids(tokenizer(text))


def text_prompt_ids(tokenizer: Any, prompt: Prompt, vocab_size: int) -> list[int]:
    """Token ids of a completion prompt: one string or one list of token ids."""
    if isinstance(prompt, list) and len(prompt) == 1 and not isinstance(prompt[0], int):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return _ids(tokenizer(prompt))
    if all(isinstance(t, int) for t in prompt):
        ids = [int(t) for t in prompt]  # type: ignore[arg-type]
        if any(t < 0 or t >= vocab_size for t in ids):
            raise BadRequest(f"token ids must be in [0, {vocab_size})", "prompt")
        return ids
    raise BadRequest("this worker takes one prompt per request", "prompt")
