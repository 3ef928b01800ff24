"""Every error leaves as ``{"error": {"code", "message"}}``; client mistakes are 4xx.

- :class:`~gigawatt.core.errors.GigawattError` → its ``http_status`` and ``code``;
- request validation → 422 ``invalid_input`` (400 ``invalid_json`` for unparseable JSON);
- unknown routes, wrong methods → 404 / 405;
- bodies over the limit → 413 ``payload_too_large`` (before the app reads them);
- anything else is a bug: logged with its traceback, answered 500 ``internal``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gigawatt.core.errors import GigawattError

log = logging.getLogger(__name__)

_MAX_MESSAGE = 500
_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def safe_text(text: str) -> str:
    """``text`` made printable as UTF-8 JSON (escapes lone surrogates) and bounded in length."""
    clean = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return clean if len(clean) <= _MAX_MESSAGE else clean[: _MAX_MESSAGE - 1] + "…"


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    """The one error shape."""
    body = {"error": {"code": code, "message": safe_text(message)}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _validation_message(errors: list[Any]) -> tuple[str, str, int]:
    if not errors:
        return "invalid_input", "invalid request", 422
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "invalid_json", f"malformed JSON body: {first.get('msg', '')}", 400
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    where = ".".join(loc)
    msg = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return "invalid_input", f"{where}: {msg}{more}" if where else f"{msg}{more}", 422


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(GigawattError)
    async def _domain(_request: Request, exc: GigawattError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
        return error_response(exc.http_status, exc.code, exc.message, **headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message, status = _validation_message(list(exc.errors()))
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal server error")


def _json_content_type(scope: Scope, body: bytes) -> Scope:
    """The API speaks JSON only: a body that looks like JSON is read as JSON whatever its
    declared type (``curl -d '{…}'`` declares a form)."""
    headers = list(scope.get("headers") or [])
    declared = dict(headers).get(b"content-type", b"").split(b";")[0].strip().lower()
    if declared not in (b"", b"application/x-www-form-urlencoded", b"text/plain"):
        return scope
    if body.lstrip()[:1] not in (b"{", b"["):
        return scope
    kept = [(k, v) for k, v in headers if k != b"content-type"]
    return {**scope, "headers": [*kept, (b"content-type", b"application/json")]}


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, reading at most that.

    A declared ``Content-Length`` over the limit is refused before reading anything; a body
    without one (chunked) is buffered up to the limit and refused as soon as it exceeds it.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: path prefix -> limit, for routes that take larger bodies (inference prompts)
        self.path_limits = dict(path_limits or {})

    def _limit(self, path: str) -> int:
        for prefix, limit in self.path_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(str(scope.get("path", "")))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self._refuse(send, 400, "invalid_input", "malformed Content-Length")
                return
            if length > limit:
                await self._too_large(send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        scope = _json_content_type(scope, body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, limit: int) -> None:
        message = f"request body larger than {limit} bytes"
        await self._refuse(send, 413, "payload_too_large", message)

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
