"""The gateway: one OpenAI request in, one upstream call out, one usage record written.

Steps of a request: authenticate (tenant and key), validate the body, find the model,
admit it against budgets and rate limits (the persistent counters), pick a target (the
upstream URL, or a ready replica of a deployment), forward it, and meter what came back.
Database work is short (one transaction to admit, one to meter) and runs on the event loop
unless ``db_in_thread`` is set.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import anyio
import httpx
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from gigawatt.core.errors import Forbidden, GigawattError
from gigawatt.inference import repo, token_accounting
from gigawatt.inference.balancer import Balancer
from gigawatt.inference.concurrency import ConcurrencyGate
from gigawatt.inference.errors import BadRequest, PassThrough, UpstreamError
from gigawatt.inference.forwarding import forward
from gigawatt.inference.limits import NO_RESERVATION, Limits, Reservation, Subject, max_cost
from gigawatt.inference.metrics import GatewayStats
from gigawatt.inference.registry import ModelCatalog, ModelEntry
from gigawatt.inference.relay import MeteredStream, StreamRelay
from gigawatt.inference.routing import RoutingPolicy, UpstreamRouter
from gigawatt.inference.settings import InferenceDeps
from gigawatt.inference.token_accounting import Caller, LimitCache, RequestOutcome, Status
from gigawatt.inference.upstream import Target, UpstreamClient
from gigawatt.inference.wire import (
    InferenceRequest,
    Kind,
    output_token_bound,
    parse_body,
    prompt_token_bound,
    usage_of,
)
from gigawatt.store.db import transaction

T = TypeVar("T")


@dataclass
class AdmittedRequest:
    """An admitted request, ready to forward."""

    request_id: str
    kind: Kind
    caller: Caller
    entry: ModelEntry
    request: InferenceRequest
    payload: dict[str, Any]
    tried: set[str] = field(default_factory=set)
    #: What admission reserved against budgets (settled when the request is metered).
    reservation: Reservation = NO_RESERVATION
    #: Whether the request's usage record was written.
    metered: bool = False
    #: The model that served the request (``entry`` or a fallback) and the upstream's label.
    served: ModelEntry | None = None
    upstream_name: str | None = None
    #: When it was admitted (the gateway's clock), for the duration histogram.
    started: float = 0.0
    #: The limits of its tenant and key (soft budgets are checked when it is metered).
    limits: dict[Subject, Limits] = field(default_factory=dict)
    #: Concurrency slots it holds (released once it is metered).
    slots: tuple[Subject, ...] = ()

    @property
    def billed_entry(self) -> ModelEntry:
        """The model whose price the request is billed at (the one that served it)."""
        return self.served or self.entry


class Gateway:
    """Serves the OpenAI endpoints of one process (see :mod:`gigawatt.inference.router`)."""

    def __init__(self, deps: InferenceDeps) -> None:
        self.deps = deps
        ttl = deps.settings.cache_ttl_s
        self.catalog = ModelCatalog(deps.sessions, deps.clock, ttl)
        self.balancer = Balancer(deps.sessions, deps.clock, ttl)
        self.limit_cache = LimitCache(deps.clock, ttl)
        st = deps.settings
        self.router_policy = RoutingPolicy(
            st.cooldown_after_failures,
            st.cooldown_s,
            st.max_cooldown_s,
            st.retry_backoff_s,
            st.retry_backoff_max_s,
        )
        self.router = UpstreamRouter(deps.clock, self.router_policy)
        self.stats = GatewayStats()
        self.gate = ConcurrencyGate()
        self._http: httpx.AsyncClient | None = None
        self._upstream: UpstreamClient | None = None
        self._callers: dict[str, tuple[float, Caller]] = {}
        #: Hot-path writes use Core connections of the sessions' engine (no ORM unit of work).
        self.engine: Engine = deps.sessions.kw["bind"]

    @property
    def http(self) -> httpx.AsyncClient:
        """A general client (health probes; created on first use)."""
        if self._http is None:
            timeout = httpx.Timeout(self.deps.settings.connect_timeout_s, read=5.0)
            self._http = httpx.AsyncClient(timeout=timeout, trust_env=False)
        return self._http

    @property
    def upstream(self) -> UpstreamClient:
        """The pooled client requests are forwarded with (created on first use)."""
        if self._upstream is None:
            s = self.deps.settings
            self._upstream = UpstreamClient(s.connect_timeout_s, s.read_timeout_s)
        return self._upstream

    async def aclose(self) -> None:
        """Close upstream connections."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._upstream is not None:
            await self._upstream.aclose()
            self._upstream = None

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller behind the header (blocking). A successful check is reused for
        ``cache_ttl_s`` seconds, so a revoked key stops working within that time."""
        ttl = self.deps.settings.cache_ttl_s
        now = self.deps.clock.now()
        if ttl > 0 and authorization:
            found = self._callers.get(authorization)
            if found is not None and now - found[0] <= ttl:
                expires_at = getattr(found[1], "expires_at", None)  # an expired key: 401 now
                if expires_at is None or now < expires_at:
                    return found[1]
        caller = self.deps.authenticate(authorization)
        if ttl > 0 and authorization:
            if len(self._callers) > 10_000:
                self._callers.clear()
            self._callers[authorization] = (now, caller)
        return caller

    def cached_caller(self, authorization: str | None) -> Caller | None:
        """The caller behind the header if a fresh successful check is cached (no I/O)."""
        ttl = self.deps.settings.cache_ttl_s
        if ttl <= 0 or not authorization:
            return None
        found = self._callers.get(authorization)
        now = self.deps.clock.now()
        if found is None or now - found[0] > ttl:
            return None
        expires_at = getattr(found[1], "expires_at", None)
        return found[1] if expires_at is None or now < expires_at else None

    def forget_callers(self) -> None:
        """Drop every cached authentication (a key was revoked: it gets 401 at once here)."""
        self._callers.clear()

    async def db(self, fn: Callable[[], T]) -> T:
        """Run blocking database work (inline, or in a worker thread: ``db_in_thread``)."""
        if self.deps.settings.db_in_thread:
            return await anyio.to_thread.run_sync(fn)
        return fn()

    # -- admission -------------------------------------------------------------------------

    def _load_limits(self, subjects: list[Subject]) -> dict[Subject, Limits]:
        with transaction(self.deps.sessions) as s:
            return repo.read_limits(s, subjects)

    def _prepare(
        self,
        authorization: str | None,
        parsed: tuple[InferenceRequest, dict[str, Any]] | None,
        error: GigawattError | None,
        kind: Kind,
    ) -> AdmittedRequest:
        caller = self.authenticate(authorization)
        if caller.is_admin or caller.tenant_id is None:
            raise Forbidden("inference is billed to a tenant: call it with a tenant's API key")
        if error is not None or parsed is None:
            raise error or BadRequest("empty request")
        request, payload = parsed
        may_call = getattr(caller, "may_call", None)  # a key scoped to some models only
        if may_call is not None and not may_call(request.model):
            raise Forbidden(f"this API key may not call model {request.model!r} (key scopes)")
        entry = self.catalog.get(request.model)
        if entry.local:
            self.balancer.refresh()
        subjects = token_accounting.subjects_of(caller.tenant_id, caller.key_id)
        limits = self.limit_cache.get(subjects, self._load_limits)
        reservation = NO_RESERVATION
        slots = self.gate.acquire(limits)
        try:
            if any(not lim.empty for lim in limits.values()):
                bound = Decimal(0)
                if any(lim.budget_usd is not None for lim in limits.values()):
                    bound = self._cost_bound(entry, request, payload)
                now = self.deps.clock.now()
                with self.engine.begin() as conn:
                    reservation = token_accounting.admit(conn, limits, now, bound)
        except BaseException:
            self.gate.release(slots)
            raise
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        request_id = f"{prefix}-{secrets.token_hex(12)}"
        admitted = AdmittedRequest(
            request_id, kind, caller, entry, request, payload, set(), reservation
        )
        admitted.started = self.deps.clock.now()
        admitted.limits = limits
        admitted.slots = slots
        return admitted

    def _cost_bound(
        self, entry: ModelEntry, request: InferenceRequest, payload: dict[str, Any]
    ) -> Decimal:
        """The request's maximum cost (at the dearest of the model and its fallbacks). A
        request without a token limit is capped at ``default_max_tokens`` upstream, so that
        the bound holds."""
        default = self.deps.settings.default_max_tokens
        if request.token_limit() is None:
            payload["max_tokens"] = default
        prompt = prompt_token_bound(request, payload)
        output = output_token_bound(request, default)
        prices = [entry.price]
        for name in entry.fallbacks:  # a fallback may serve it, at its own price
            try:
                prices.append(self.catalog.get(name).price)
            except GigawattError:
                continue
        return max(max_cost(prompt, output, price) for price in prices)

    async def admit(self, request: Request, kind: Kind) -> AdmittedRequest:
        """Authenticate, validate and admit (raises a 4xx :class:`GigawattError`)."""
        body = await request.body()
        parsed: tuple[InferenceRequest, dict[str, Any]] | None = None
        error: GigawattError | None = None
        if len(body) > self.deps.settings.max_body_bytes:
            error = BadRequest(f"request body over {self.deps.settings.max_body_bytes} bytes")
        else:
            try:
                parsed = parse_body(body, kind)
            except BadRequest as exc:
                error = exc
        auth = request.headers.get("authorization")
        fast = self._prepare_from_caches(auth, parsed, error, kind)
        if fast is not None:  # nothing to read or write: no trip to a database thread
            return fast
        return await self.db(lambda: self._prepare(auth, parsed, error, kind))

    def _prepare_from_caches(
        self,
        authorization: str | None,
        parsed: tuple[InferenceRequest, dict[str, Any]] | None,
        error: GigawattError | None,
        kind: Kind,
    ) -> AdmittedRequest | None:
        """:meth:`_prepare` when the caller, the model (and its replicas) and the limits are
        all in this process's fresh caches and no limit needs the database; else None."""
        caller = self.cached_caller(authorization)
        if caller is None or parsed is None or error is not None:
            return None
        entry = self.catalog.peek(parsed[0].model)
        if entry is None or (entry.local and not self.balancer.fresh()):
            return None
        if caller.tenant_id is None or caller.is_admin:
            return None
        limits = self.limit_cache.peek(
            token_accounting.subjects_of(caller.tenant_id, caller.key_id)
        )
        if limits is None or any(not lim.empty for lim in limits.values()):
            return None
        return self._prepare(authorization, parsed, error, kind)

    # -- routing ---------------------------------------------------------------------------

    async def fallback_chain(self, entry: ModelEntry) -> list[ModelEntry]:
        """The model, then its fallbacks that are still registered, in order."""

        def load() -> list[ModelEntry]:
            chain = [entry]
            for name in entry.fallbacks:
                try:
                    found = self.catalog.get(name)
                except GigawattError:
                    continue
                if found.local:
                    self.balancer.refresh()
                chain.append(found)
            return chain

        return await self.db(load) if entry.fallbacks else [entry]

    def upstream_body(self, prep: AdmittedRequest, target: Target, entry: ModelEntry) -> bytes:
        """The body sent upstream: the client's, with the upstream's model name and, when
        streaming, usage requested (continuously from Gigawatt's workers)."""
        payload = dict(prep.payload)
        payload["model"] = target.model
        if prep.request.stream:
            options = dict(payload.get("stream_options") or {})
            options["include_usage"] = True
            if target.worker:
                options["continuous_usage_stats"] = True
            payload["stream_options"] = options
        return json.dumps(payload, separators=(",", ":")).encode()

    def track(self, target: Target, delta: int) -> None:
        """Count a request in flight on a replica (for least-loaded balancing)."""
        if target.replica_id is None:
            return
        for replica in self.balancer.replicas():
            if replica.id == target.replica_id:
                replica.inflight = max(0, replica.inflight + delta)

    # -- metering --------------------------------------------------------------------------

    async def meter(self, prep: AdmittedRequest, outcome: RequestOutcome) -> None:
        """Write the request's usage record (once; a repeat is ignored by its key)."""

        def write() -> None:
            price = prep.billed_entry.price
            now = self.deps.clock.now()
            with self.engine.begin() as conn:
                token_accounting.record(
                    conn,
                    prep.request_id,
                    prep.caller,
                    price,
                    outcome,
                    now,
                    prep.reservation,
                    prep.upstream_name,
                    prep.limits,
                )
            prep.metered = True

        with anyio.CancelScope(shield=True):
            try:
                await self.db(write)
            finally:
                self.gate.release(prep.slots)
                prep.slots = ()
        self.stats.observe(prep.billed_entry.id, self.deps.clock.now() - prep.started)

    async def fail(self, prep: AdmittedRequest, exc: GigawattError) -> None:
        """Meter an upstream failure (nothing billed, the reason kept)."""
        await self.meter(prep, RequestOutcome("upstream_error", 0, 0, exc.message[:2000]))

    # -- forwarding ------------------------------------------------------------------------

    async def respond(self, prep: AdmittedRequest, receive: Receive | None = None) -> Response:
        """Forward an admitted request and answer it. Should it end without a usage record
        (cancelled, or an unexpected error), one recording the failure is written, which
        also releases what admission reserved. With ``receive`` (the client's ASGI channel),
        a non-streaming request whose client goes away is cancelled at once, upstream call
        included (streams watch their client themselves)."""
        try:
            if prep.request.stream:
                return await self.stream(prep)
            if receive is None:
                return await self.complete(prep)
            return await self._complete_watching(prep, receive)
        except BaseException as exc:
            if not prep.metered:
                cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
                status: Status = "client_disconnected" if cancelled else "upstream_error"
                why = f"request ended before an answer ({type(exc).__name__}); nothing billed"
                await self.meter(prep, RequestOutcome(status, 0, 0, why))
            raise

    async def _complete_watching(self, prep: AdmittedRequest, receive: Receive) -> Response:
        """:meth:`complete`, cancelled if the client disconnects before its answer."""
        answer: list[Response] = []
        failed: list[Exception] = []
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                answer.append(await self.complete(prep))
            except Exception as exc:  # raised below as itself, not as an exception group
                failed.append(exc)
            group.cancel_scope.cancel()
        if failed:
            raise failed[0]
        if answer:
            return answer[0]
        if not prep.metered:  # the upstream call was cancelled: its connection is closed
            why = "client disconnected before the answer; upstream call cancelled, nothing billed"
            await self.meter(prep, RequestOutcome("client_disconnected", 0, 0, why))
        return Response(status_code=499)  # nobody reads it

    async def complete(self, prep: AdmittedRequest) -> Response:
        """Forward a non-streaming request (with retries and fallbacks) and meter its usage."""
        opened = await forward(self, prep, read_all=True)
        raw = opened.body or b""
        try:
            body = json.loads(raw)
        except ValueError:
            error = UpstreamError("upstream answered with a body that is not JSON")
            await self.fail(prep, error)
            raise error from None
        usage = usage_of(body)
        if usage is None:
            outcome = RequestOutcome(
                "completed", 0, 0, "upstream reported no usage; nothing billed"
            )
        else:
            outcome = RequestOutcome("completed", usage.prompt_tokens, usage.completion_tokens)
        served = opened.choice
        if served.target.model != served.entry.id and isinstance(body, dict):
            body["model"] = served.entry.id
            raw = json.dumps(body, separators=(",", ":")).encode()
        await self.meter(prep, outcome)
        headers = {"x-request-id": prep.request_id}
        return Response(raw, media_type="application/json", headers=headers)

    async def stream(self, prep: AdmittedRequest) -> Response:
        """Open the upstream stream (with retries and fallbacks) and relay it as SSE."""
        opened = await forward(self, prep, read_all=False)
        relay = StreamRelay(self, prep, opened.choice.target, opened.response)
        headers = {"x-request-id": prep.request_id, "cache-control": "no-cache"}
        return MeteredStream(relay, headers)


def upstream_status_error(status: int, raw: bytes) -> GigawattError:
    """The error for an upstream's HTTP error: its own 4xx relayed, anything else a 502."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = raw[:500].decode("utf-8", "replace")
        body = {"error": {"message": f"upstream answered HTTP {status}: {text}"}}
    if status in (400, 404, 413, 422, 429):
        return PassThrough(status, body)
    error = body.get("error")
    detail = error.get("message") if isinstance(error, dict) else None
    return UpstreamError(f"upstream answered HTTP {status}" + (f": {detail}" if detail else ""))
