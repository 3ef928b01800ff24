"""Errors of the inference API, answered in the OpenAI error format.

The body is ``{"error": {"message", "type", "param", "code"}}``: OpenAI's shape, which is a
superset of the control plane's ``{"error": {"code", "message"}}``, so both kinds of client
read it. Every error a client can cause is a 4xx; upstream failures are 502/503/504.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from gigawatt.core.errors import GigawattError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class BadRequest(GigawattError):
    """A malformed request body (HTTP 400, as OpenAI answers), naming the parameter."""

    code = "invalid_request"
    http_status = 400

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.field = param


class BudgetExceeded(GigawattError):
    """The tenant's or key's spending budget for the period is used up (HTTP 402)."""

    code = "budget_exceeded"
    http_status = 402


class RateLimited(GigawattError):
    """Too many requests or tokens this minute (HTTP 429 with ``Retry-After``)."""

    code = "rate_limit_exceeded"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UpstreamError(GigawattError):
    """The model server failed or could not be reached (HTTP 502, 503 or 504)."""

    code = "upstream_error"
    http_status = 502

    def __init__(self, message: str, status: int = 502, code: str = "upstream_error") -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code


class PassThrough(GigawattError):
    """An upstream's own 4xx answer, relayed to the client with its status and body."""

    code = "upstream_rejected"

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error")
        found = error.get("message") if isinstance(error, dict) else None
        message = str(found or f"upstream answered HTTP {status}")
        super().__init__(message)
        self.http_status = status
        self.body = body


def error_body(
    status: int, code: str, message: str, param: str | None = None
) -> dict[str, dict[str, Any]]:
    """The OpenAI error body for ``status``."""
    kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def body_of(exc: GigawattError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and extra headers for a Gigawatt error."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, PassThrough):
        error = exc.body.get("error")
        if isinstance(error, dict) and "message" in error:
            error.setdefault("code", exc.code)
            error.setdefault("type", _TYPES.get(exc.http_status, "invalid_request_error"))
            return exc.http_status, exc.body, headers
        return exc.http_status, error_body(exc.http_status, exc.code, exc.message), headers
    param = getattr(exc, "field", None)
    return exc.http_status, error_body(exc.http_status, exc.code, exc.message, param), headers


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """A one-line message and the offending parameter of a pydantic validation error."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "invalid request body", None
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "missing":
        message = "field required"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"{where}: {message}{more}" if where else message + more), (where or None)
