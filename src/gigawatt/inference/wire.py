"""The OpenAI wire format: request bodies the gateway and the worker accept, and usage.

Requests are validated at the edge with pydantic. Unknown fields are kept (``extra="allow"``)
so that options the gateway does not interpret (tools, response_format, logit_bias…) reach an
OpenAI-compatible upstream unchanged; the fields Gigawatt relies on are checked strictly.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from gigawatt.inference.errors import BadRequest, validation_message

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_MAX_STOPS = 4


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a final chunk with the request's usage.

    ``continuous_usage_stats`` (as in vLLM) puts the running usage on every chunk; the gateway
    asks Gigawatt's own workers for it so a stream cut short is billed exactly.
    """

    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = False
    continuous_usage_stats: StrictBool = False


class ContentPart(BaseModel):
    """One part of a multi-part message content (only text parts are read by the worker)."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One chat message: a role and its content (a string or a list of parts)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in _ROLES:
            raise ValueError(f"unknown role {value!r}; expected one of {', '.join(_ROLES)}")
        return value

    def text(self) -> str:
        """The message's text (text parts joined; other parts ignored)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


TokenCount = Annotated[StrictInt, Field(ge=1, le=1_000_000)]


class _Sampling(BaseModel):
    """Options shared by chat and text completions."""

    model_config = ConfigDict(extra="allow")

    model: Annotated[str, Field(min_length=1, max_length=128)]
    max_tokens: TokenCount | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    n: Annotated[StrictInt, Field(ge=1, le=128)] | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: StrictInt | None = None
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > _MAX_STOPS:
            raise ValueError(f"at most {_MAX_STOPS} stop sequences")
        return value

    def stops(self) -> list[str]:
        """Stop sequences as a list (empty strings dropped)."""
        if self.stop is None:
            return []
        items = [self.stop] if isinstance(self.stop, str) else self.stop
        return [s for s in items if s]

    def include_usage(self) -> bool:
        """Whether the client asked for a final usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(_Sampling):
    """``POST /v1/chat/completions``."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=4096)]
    max_completion_tokens: TokenCount | None = None

    def token_limit(self) -> int | None:
        """``max_completion_tokens`` if given, else ``max_tokens``."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens


Prompt = str | list[str] | list[StrictInt] | list[list[StrictInt]]


class CompletionRequest(_Sampling):
    """``POST /v1/completions``."""

    prompt: Prompt
    echo: StrictBool = False

    @field_validator("prompt")
    @classmethod
    def _non_empty(cls, value: Prompt) -> Prompt:
        if isinstance(value, list) and not value:
            raise ValueError("prompt must not be an empty list")
        return value

    def token_limit(self) -> int | None:
        """``max_tokens``."""
        return self.max_tokens


InferenceRequest = ChatCompletionRequest | CompletionRequest
Kind = Literal["chat", "text"]


class Usage(BaseModel):
    """``usage`` of a response: exact token counts."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        """Usage with ``total_tokens`` filled in."""
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


def usage_of(payload: Any) -> Usage | None:
    """The ``usage`` object of a response or chunk dict, if it has a well-formed one."""
    if not isinstance(payload, dict):
        return None
    raw = payload.get("usage")
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    if prompt < 0 or completion < 0:
        return None
    return Usage.of(prompt, completion)


#: Tokens a chat template may add per message (role markers, separators) and per request
#: (begin-of-text, the assistant header): generous for every common template.
_PER_MESSAGE_TOKENS = 16
_PER_REQUEST_TOKENS = 16
_SAMPLING_FIELDS = frozenset(_Sampling.model_fields) | {"messages", "prompt", "echo"}


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


def prompt_token_bound(request: InferenceRequest, payload: dict[str, Any]) -> int:
    """An upper bound of the request's prompt tokens, without its tokenizer.

    Byte-level tokenizers never make more tokens than bytes, so the UTF-8 length of every
    text the prompt carries (plus a template allowance per message, and the JSON of fields
    that may reach the template, such as ``tools``) bounds the count; a prompt given as token
    ids is counted exactly.
    """
    total = _PER_REQUEST_TOKENS
    if isinstance(request, ChatCompletionRequest):
        for message in request.messages:
            total += _PER_MESSAGE_TOKENS + _utf8(message.text()) + _utf8(message.name or "")
            extra = message.model_extra or {}
            if extra:
                total += _utf8(json.dumps(extra, separators=(",", ":")))
    else:
        prompt = request.prompt
        if isinstance(prompt, str):
            total += _utf8(prompt)
        elif all(isinstance(p, str) for p in prompt):
            total += sum(_utf8(p) + _PER_REQUEST_TOKENS for p in prompt if isinstance(p, str))
        elif all(isinstance(p, int) for p in prompt):
            total += len(prompt)
        else:
            total += sum(len(p) + _PER_REQUEST_TOKENS for p in prompt if isinstance(p, list))
    others = {k: v for k, v in payload.items() if k not in _SAMPLING_FIELDS}
    if others:
        total += _utf8(json.dumps(others, separators=(",", ":")))
    return total


def output_token_bound(request: InferenceRequest, default_max_tokens: int) -> int:
    """The most tokens the request can generate: its limit (``default_max_tokens`` when it
    gives none) times its choices (``n``), times its prompts for a batch of text prompts."""
    limit = request.token_limit() or default_max_tokens
    choices = request.n or 1
    prompts = 1
    prompt = request.prompt if isinstance(request, CompletionRequest) else None
    if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
        prompts = len(prompt)
    return limit * choices * prompts


def parse_body(body: bytes, kind: Kind) -> tuple[InferenceRequest, dict[str, Any]]:
    """The validated request and the raw JSON object (to forward); :class:`BadRequest`."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    model = ChatCompletionRequest if kind == "chat" else CompletionRequest
    try:
        parsed: InferenceRequest = model.model_validate(payload)
    except ValidationError as exc:
        message, param = validation_message(exc)
        raise BadRequest(message, param) from None
    return parsed, payload
