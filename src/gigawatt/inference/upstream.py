"""The upstream client: forwards a request to an OpenAI-compatible server over HTTP/1.1.

It uses :mod:`gigawatt.inference.http1` (pooled keep-alive connections, a fraction of httpx's
CPU per exchange). A server that cannot be reached — or a kept-alive connection whose server
died — is :class:`Unreachable` (the balancer may try another replica: retrying may repeat
work, never billing, since only the answer the client gets is metered); anything else that
goes wrong is an :class:`UpstreamError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gigawatt.inference.errors import UpstreamError
from gigawatt.inference.http1 import (
    ConnectFailed,
    Http1Client,
    HttpError,
    ReadTimedOut,
    Response,
)


class Unreachable(UpstreamError):
    """The server could not be reached or died before answering (try another replica)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 502, "upstream_unreachable")


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: an OpenAI base URL (``…/v1``) and the model's name there.

    ``worker`` marks Gigawatt's own worker, which reports running usage on every chunk.
    """

    base_url: str
    model: str
    api_key: str | None = None
    replica_id: str | None = None
    worker: bool = False

    @property
    def label(self) -> str:
        """How usage records and errors name this target: the replica, or the base URL."""
        return self.replica_id or self.base_url


def upstream_error(exc: HttpError, target: Target) -> UpstreamError:
    """The gateway error for a client error talking to ``target``."""
    where = target.label
    message = f"upstream {where} failed: {exc}"
    if isinstance(exc, ConnectFailed):
        return Unreachable(message)
    if isinstance(exc, ReadTimedOut):
        return UpstreamError(message, 504, "upstream_timeout")
    return UpstreamError(message)


class UpstreamClient:
    """Pooled keep-alive connections to every upstream and replica of one process."""

    def __init__(self, connect_timeout_s: float = 5.0, read_timeout_s: float = 600.0) -> None:
        self._http = Http1Client(connect_timeout_s, read_timeout_s)

    async def open_stream(self, target: Target, path: str, body: bytes) -> Response:
        """POST ``body``; the answer's body is left unread (the caller reads and closes it)."""
        headers = [("Content-Type", "application/json"), ("Accept", "*/*")]
        if target.api_key:
            headers.append(("Authorization", f"Bearer {target.api_key}"))
        try:
            return await self._http.post(f"{target.base_url}/{path}", body, headers)
        except HttpError as exc:
            raise upstream_error(exc, target) from exc

    async def call(self, target: Target, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` and read the whole answer: ``(status, bytes)``."""
        response = await self.open_stream(target, path, body)
        try:
            return response.status_code, await response.aread()
        except HttpError as exc:
            raise upstream_error(exc, target) from exc
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._http.aclose()
