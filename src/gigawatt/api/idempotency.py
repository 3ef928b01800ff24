"""ASGI middleware: ``Idempotency-Key`` on the POSTs that create something.

See :mod:`gigawatt.services.idempotency` for the rules. The middleware authenticates the
caller only to scope the key to its tenant (a request that fails authentication passes
through and gets its 401), claims the key, runs the request while copying its response, and
stores that response; a retry gets the stored status and body back with
``Idempotent-Replayed: true``. The secret of a new API key is never stored: a replayed key
creation answers the key's id and properties with ``"key": null``. A retry that arrives
while the first request still runs waits for it (up to ``wait_s``), then gets a 409.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gigawatt.api.deps import principal_of
from gigawatt.api.errors import error_response
from gigawatt.core.errors import Unauthorized
from gigawatt.services import idempotency
from gigawatt.services.platform import Platform

HEADER = b"idempotency-key"
REPLAYED = "Idempotent-Replayed"
#: The POSTs that create something (others ignore the header).
CREATING = (
    r"/v1/jobs",
    r"/v1/tenants",
    r"/v1/tenants/[^/]+/keys",
    r"/v1/tenants/[^/]+/reservations",
    r"/v1/keys",
    r"/v1/models",
    r"/v1/deployments",
)
#: Responses that carry a new API key's secret: stored without it (secrets are never kept).
SECRET_BEARING = (r"/v1/tenants/[^/]+/keys", r"/v1/keys")
_KEY = re.compile(rf"[\x21-\x7e]{{1,{idempotency.MAX_KEY_LENGTH}}}")


class Idempotency:
    """Makes creating POSTs with an ``Idempotency-Key`` header safe to retry."""

    def __init__(
        self,
        app: ASGIApp,
        platform: Platform,
        paths: Sequence[str] = CREATING,
        wait_s: float = 30.0,
        poll_s: float = 0.05,
    ) -> None:
        self.app = app
        self.platform = platform
        self.paths = re.compile("|".join(f"(?:{p})" for p in paths))
        self.secret_bearing = re.compile("|".join(f"(?:{p})" for p in SECRET_BEARING))
        self.wait_s = wait_s
        self.poll_s = poll_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_key = headers.get(HEADER)
        path = str(scope.get("path", ""))
        if raw_key is None or self.paths.fullmatch(path.rstrip("/")) is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if _KEY.fullmatch(key) is None:
            message = "Idempotency-Key must be 1 to 255 printable ASCII characters"
            await error_response(400, "invalid_input", message)(scope, receive, send)
            return
        authorization = headers.get(b"authorization")
        try:
            principal = await principal_of(
                scope["app"].state,
                self.platform,
                None if authorization is None else authorization.decode("latin-1"),
            )
        except Unauthorized:
            await self.app(scope, receive, send)  # the route answers 401
            return
        owner = principal.tenant_id or "admin"
        body = await _read_body(receive)
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        digest = idempotency.request_hash("POST", path, query, body)
        found = await run_in_threadpool(idempotency.claim, self.platform, owner, key, digest)
        if found is None:
            await self._run_first(scope, body, send, owner, key)
            return
        await self._answer_retry(scope, receive, send, body, owner, key, digest, found)

    async def _run_first(self, scope: Scope, body: bytes, send: Send, owner: str, key: str) -> None:
        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()  # the body was read; wait to be cancelled
            raise AssertionError("unreachable")

        async def copy(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = bytes(value).decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, replay, copy)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(idempotency.release, self.platform, owner, key)
            raise
        if status >= 500:
            await run_in_threadpool(idempotency.release, self.platform, owner, key)
            return
        stored = b"".join(chunks)
        if self.secret_bearing.fullmatch(str(scope.get("path", "")).rstrip("/")):
            stored = _without_secret(stored)
        await run_in_threadpool(
            idempotency.complete, self.platform, owner, key, status, content_type, stored
        )

    async def _answer_retry(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        owner: str,
        key: str,
        digest: str,
        found: idempotency.Stored,
    ) -> None:
        if found.request_hash != digest:
            message = (
                "this Idempotency-Key was used with a different request; "
                "use a new key for a new request"
            )
            await error_response(409, "idempotency_key_reused", message)(scope, receive, send)
            return
        deadline = time.monotonic() + self.wait_s
        current: idempotency.Stored | None = found
        while current is not None and current.status_code is None:  # still running
            if time.monotonic() >= deadline:
                message = "a request with this Idempotency-Key is still in progress; retry later"
                await error_response(409, "idempotency_in_progress", message)(scope, receive, send)
                return
            await anyio.sleep(self.poll_s)
            current = await run_in_threadpool(idempotency.lookup, self.platform, owner, key)
        if current is None:  # the first request failed and let go of the key: run this one
            found_now = await run_in_threadpool(
                idempotency.claim, self.platform, owner, key, digest
            )
            if found_now is None:
                await self._run_first(scope, body, send, owner, key)
            else:
                await self._answer_retry(scope, receive, send, body, owner, key, digest, found_now)
            return
        await _send_stored(send, current.status_code or 500, current)


def _without_secret(body: bytes) -> bytes:
    """A new key's response with its secret taken out (``"key": null``)."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body
    if isinstance(decoded, dict) and "key" in decoded:
        decoded["key"] = None
        return json.dumps(decoded, separators=(",", ":")).encode()
    return body


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(bytes(message.get("body", b"")))
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


async def _send_stored(send: Send, status: int, stored: idempotency.Stored) -> None:
    body = stored.body or b""
    headers = [
        (b"content-length", str(len(body)).encode()),
        (REPLAYED.lower().encode(), b"true"),
    ]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
