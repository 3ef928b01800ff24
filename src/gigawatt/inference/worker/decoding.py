"""Token-level helpers of the engine: sampling and incremental detokenisation with stops."""

from __future__ import annotations

from typing import Any

import torch

_REPLACEMENT = "\ufffd"


def sample(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> int:
    """One token id from a row of logits: greedy at temperature 0, else nucleus sampling."""
    if temperature <= 0:
        return int(torch.argmax(logits).item())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        choice = torch.multinomial(sorted_probs.cpu(), 1, generator=generator)
        return int(order[int(choice.item())].item())
    return int(torch.multinomial(probs.cpu(), 1, generator=generator).item())


class TextStream:
    """The text of a growing sequence of token ids, handed out as it becomes final.

    Text is held back while it ends in an incomplete UTF-8 character or could be the start of
    a stop string; when a stop string appears, the text before it is the last piece.
    """

    def __init__(self, tokenizer: Any, stops: list[str]) -> None:
        self._tokenizer = tokenizer
        self._stops = [s for s in stops if s]
        self._ids: list[int] = []
        self._sent = 0
        self.tokens = 0
        self.text = ""

    def push(self, token: int) -> tuple[str, bool]:
        """Add a token; returns ``(new text to send, whether a stop string was hit)``."""
        self._ids.append(token)
        self.tokens += 1
        full = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        for stop in self._stops:
            at = full.find(stop)
            if at >= 0:
                self.text = full[:at]
                piece = self.text[self._sent :]
                self._sent = len(self.text)
                return piece, True
        self.text = full
        end = len(full)
        if full.endswith(_REPLACEMENT):
            end = len(full.rstrip(_REPLACEMENT))
        end = min(end, len(full) - self._partial_stop(full))
        if end <= self._sent:
            return "", False
        piece = full[self._sent : end]
        self._sent = end
        return piece, False

    def _partial_stop(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:n]):
                    longest = max(longest, n)
                    break
        return longest

    def rest(self) -> str:
        """Text not sent yet (at the end of the sequence, held-back text is final)."""
        piece = self.text[self._sent :]
        self._sent = len(self.text)
        return piece.rstrip(_REPLACEMENT)
