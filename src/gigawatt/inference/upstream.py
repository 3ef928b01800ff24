"""The upstream client: forwards a request to an OpenAI-compatible server over HTTP (httpx).

One :class:`httpx.AsyncClient` per gateway process keeps connections to upstreams and
replicas alive. Failures to connect are :class:`Unreachable` (the balancer may try another
replica: nothing was sent); anything else that goes wrong is an :class:`UpstreamError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from gigawatt.inference.errors import UpstreamError

#: Failures before an answer arrived: the server is gone (a refused connection, or a kept-alive
#: connection whose process died). Retrying elsewhere may repeat work, never billing: only
#: the answer the client gets is metered.
_RETRYABLE = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
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


def new_client(connect_timeout_s: float = 5.0, read_timeout_s: float = 600.0) -> httpx.AsyncClient:
    """The shared client (large pool, no overall timeout: streams may last long)."""
    timeout = httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=30.0)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)


def _request(client: httpx.AsyncClient, target: Target, path: str, body: bytes) -> httpx.Request:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return client.build_request("POST", f"{target.base_url}/{path}", content=body, headers=headers)


def _describe(exc: Exception, target: Target) -> str:
    where = target.replica_id or target.base_url
    return f"upstream {where} failed: {type(exc).__name__}: {exc}".rstrip(": ")


async def call(
    client: httpx.AsyncClient, target: Target, path: str, body: bytes
) -> tuple[int, bytes]:
    """POST ``body`` and read the whole answer: ``(status, bytes)``."""
    try:
        response = await client.send(_request(client, target, path, body))
        return response.status_code, response.content
    except _RETRYABLE as exc:
        raise Unreachable(_describe(exc, target)) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError(_describe(exc, target), 504, "upstream_timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(_describe(exc, target)) from exc


async def open_stream(
    client: httpx.AsyncClient, target: Target, path: str, body: bytes
) -> httpx.Response:
    """POST ``body`` and return the response with its body unread (the caller closes it)."""
    try:
        return await client.send(_request(client, target, path, body), stream=True)
    except _RETRYABLE as exc:
        raise Unreachable(_describe(exc, target)) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError(_describe(exc, target), 504, "upstream_timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(_describe(exc, target)) from exc
