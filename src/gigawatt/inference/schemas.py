"""Response shapes of the inference API, for its OpenAPI description.

Request bodies are :mod:`gigawatt.inference.wire`'s models; the gateway answers with the
upstream's own JSON (OpenAI's shape), so these models describe rather than build it: extra
fields are allowed everywhere, as an OpenAI-compatible server may add its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Open):
    """OpenAI's error object (``code`` and ``message`` are the control plane's fields too)."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(_Open):
    """Every 4xx and 5xx answer of the inference API."""

    error: ErrorDetail


class UsageOut(_Open):
    """Token counts of a request (what it is billed for)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(_Open):
    """The generated message of a chat choice."""

    role: str = "assistant"
    content: str | None = None


class ChatChoice(_Open):
    """One choice of a chat completion."""

    index: int
    message: AssistantMessage
    finish_reason: str | None = None


class ChatCompletion(_Open):
    """``POST /v1/chat/completions`` without ``stream``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: UsageOut | None = None


class TextChoice(_Open):
    """One choice of a text completion."""

    index: int
    text: str
    finish_reason: str | None = None


class Completion(_Open):
    """``POST /v1/completions`` without ``stream``."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoice]
    usage: UsageOut | None = None


class ModelOut(_Open):
    """A model on sale, with its prices (the admin also sees where it is served)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    price_per_million_input_tokens: str
    price_per_million_output_tokens: str
    served_by: Literal["upstream", "deployment"]
    fallbacks: list[str] = []
    ready_replicas: int | None = None
    upstream_url: str | None = None
    upstream_model: str | None = None
    model_path: str | None = None
    upstreams: list[dict[str, Any]] | None = None


class ModelList(_Open):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelOut]


class LimitView(_Open):
    """A tenant's or key's limits, with this period's spend (in-flight requests counted at
    their reserved maximum) and this minute's tokens."""

    scope: Literal["tenant", "key"]
    id: str
    budget_usd: str | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    budget_period: Literal["day", "week", "month"] = "month"
    budget_window: str | None = None
    soft_budget_usd: str | None = None
    max_concurrent: int | None = None
    spent_this_period_usd: str
    tokens_this_minute: int


class LimitList(_Open):
    """``GET /v1/limits``."""

    data: list[LimitView]


class AlertView(_Open):
    """An alert event: a tenant's or key's spend reached its soft budget in a window."""

    scope: Literal["tenant", "key"]
    id: str
    kind: str
    window: str
    at: float
    message: str


class AlertList(_Open):
    """``GET /v1/inference/alerts``, newest first."""

    data: list[AlertView]


class ReplicaState(_Open):
    """One replica of a deployment."""

    id: str
    job_id: str
    status: str
    url: str | None


class DeploymentView(_Open):
    """A deployment and its replicas."""

    id: str
    model: str
    tenant_id: str
    gpus: int
    gpu_type: str
    tier: str
    replicas: int
    max_batch_size: int
    status: str
    reason: str
    created_at: float
    replica_states: list[ReplicaState]


class DeploymentList(_Open):
    """``GET /v1/deployments``."""

    data: list[DeploymentView]


class Ok(_Open):
    """An acknowledgement."""

    ok: bool = True


#: Error answers every inference route may give (documented in OpenAPI).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "malformed request (the offending parameter in `param`)",
        401: "missing or unknown API key",
        402: "budget exhausted, or too low for the request's maximum cost",
        403: "not allowed (admin key, key scopes)",
        404: "unknown model or resource",
        429: "rate limit (`Retry-After` says when to retry)",
        502: "the upstream failed (after retries and fallbacks)",
        503: "no upstream or replica available, or the database is unavailable",
    }.items()
}

#: The ``text/event-stream`` answer of a streaming completion.
STREAM: dict[str, Any] = {
    "text/event-stream": {
        "schema": {"type": "string"},
        "description": (
            "With `stream: true`: server-sent events, `data: <chunk JSON>` each (OpenAI's "
            "`chat.completion.chunk` / `text_completion` chunks; with "
            "`stream_options.include_usage` a last chunk with no choices carries `usage`), "
            "ending with `data: [DONE]`; an upstream failure mid-stream ends the stream with "
            "`data: <ErrorResponse JSON>`."
        ),
    }
}
