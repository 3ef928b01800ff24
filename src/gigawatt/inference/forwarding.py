"""Forwarding one admitted request: choose a target, retry failures elsewhere, fall back.

The targets of a request are its model's routes (upstreams, balanced by weight, or ready
replicas of a deployment), then those of each fallback model in order. An attempt that fails
before anything reached the client — the upstream cannot be reached, answers 5xx, times out
or breaks before its answer's head (and, for a non-streaming request, before its whole body)
— is retried on the next target after a bounded backoff, up to ``1 + retries`` attempts. An
upstream's own 4xx (a context-length error…) is the client's answer and is not retried.

Whatever happened, the request gets one usage record, written by the gateway; it names the
upstream that served the request (or the last one that failed) and bills at the price of the
model that served it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from gigawatt.core.errors import GigawattError
from gigawatt.inference.errors import PassThrough, UpstreamError
from gigawatt.inference.http1 import Response
from gigawatt.inference.registry import ModelEntry, Route
from gigawatt.inference.routing import backoff_s, route_key
from gigawatt.inference.upstream import Target

if TYPE_CHECKING:
    from gigawatt.inference.gateway import AdmittedRequest, Gateway

PATHS = {"chat": "chat/completions", "text": "completions"}


@dataclass(frozen=True, slots=True)
class Choice:
    """A target chosen for one attempt, with the model it serves and its route."""

    target: Target
    entry: ModelEntry
    route: Route | None
    key: str


@dataclass(slots=True)
class Opened:
    """A successful attempt: the upstream's answer (head read), and its body when read."""

    choice: Choice
    response: Response
    body: bytes | None = None


def _choose(gateway: Gateway, prep: AdmittedRequest, chain: list[ModelEntry]) -> Choice | None:
    """The next untried target along the model and its fallbacks (None: none left)."""
    for entry in chain:
        if entry.local:
            replica = gateway.balancer.pick(entry.id, frozenset(prep.tried))
            if replica is not None:
                target = Target(replica.base_url, entry.id, None, replica.id, worker=True)
                return Choice(target, entry, None, replica.id)
            continue
        route = gateway.router.pick(entry.routes, prep.tried)
        if route is not None:
            target = Target(route.url, route.model, route.api_key)
            return Choice(target, entry, route, route_key(route))
    return None


def _no_target(prep: AdmittedRequest) -> UpstreamError:
    entry = prep.entry
    if entry.local and not prep.tried:
        return UpstreamError(
            f"model {entry.id} has no ready replica; create a deployment "
            "(POST /v1/deployments) or wait for its replicas to start",
            503,
            "model_not_ready",
        )
    return UpstreamError(f"model {entry.id}: no upstream left to try", 503, "model_not_ready")


def _failed(gateway: Gateway, choice: Choice, exc: GigawattError) -> None:
    if choice.route is not None:
        gateway.router.failed(choice.route, exc.message)
    elif choice.target.replica_id is not None:
        gateway.balancer.mark_down(choice.target.replica_id, exc.message)


async def _attempt(
    gateway: Gateway, prep: AdmittedRequest, choice: Choice, read_all: bool
) -> Opened:
    """One attempt; raises :class:`UpstreamError` (retryable) or :class:`PassThrough`."""
    from gigawatt.inference.gateway import upstream_status_error

    body = gateway.upstream_body(prep, choice.target, choice.entry)
    response = await gateway.upstream.open_stream(choice.target, PATHS[prep.kind], body)
    if response.status_code >= 400:
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        raise upstream_status_error(response.status_code, raw)
    if not read_all:
        return Opened(choice, response)
    try:
        return Opened(choice, response, await response.aread())
    except UpstreamError:
        raise
    except Exception as exc:
        raise UpstreamError(f"upstream {choice.target.label} failed: {exc}") from exc
    finally:
        await response.aclose()


async def forward(gateway: Gateway, prep: AdmittedRequest, read_all: bool) -> Opened:
    """Open the request's answer on the first target that gives one (see the module doc).

    On failure the request is metered as failed (naming the last upstream tried) and the
    error raised: the last upstream error, or a 503 when no target was available.
    """
    chain = await gateway.fallback_chain(prep.entry)
    settings = gateway.deps.settings
    last: GigawattError | None = None
    for attempt in range(1 + settings.retries):
        choice = _choose(gateway, prep, chain)
        if choice is None:
            break
        if attempt:
            await anyio.sleep(backoff_s(attempt, gateway.router_policy))
        prep.served = choice.entry
        prep.upstream_name = choice.target.label
        gateway.track(choice.target, +1)
        ok = False
        try:
            opened = await _attempt(gateway, prep, choice, read_all)
            ok = True
        except PassThrough as exc:  # the upstream's own 4xx: the client's answer
            if choice.route is not None:
                gateway.router.succeeded(choice.route)
            await gateway.fail(prep, exc)
            raise
        except UpstreamError as exc:
            _failed(gateway, choice, exc)
            prep.tried.add(choice.key)
            last = exc
            continue
        finally:
            if read_all or not ok:  # a stream's relay untracks it when it ends
                gateway.track(choice.target, -1)
        if choice.route is not None:
            gateway.router.succeeded(choice.route)
        return opened
    error = last or _no_target(prep)
    if last is not None and len(prep.tried) > 1:
        error = UpstreamError(
            f"{len(prep.tried)} attempts failed; last: {last.message}",
            last.http_status,
            last.code,
        )
    await gateway.fail(prep, error)
    raise error
