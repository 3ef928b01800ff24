"""HTTP routes of the inference API, as a FastAPI ``APIRouter`` the control plane includes.

Every error here is answered in the OpenAI format (``{"error": {"message", "type", "param",
"code"}}``, a superset of the control plane's ``{"error": {"code", "message"}}``).

Each route is a :class:`GatewayRoute`: OpenAPI describes it from a signature with the
pydantic request model (:mod:`~gigawatt.inference.wire`, the other routes' specs) and
response model (:mod:`~gigawatt.inference.schemas`, streaming as ``text/event-stream``),
while requests are served by a handler that parses the body itself — so the raw JSON is
forwarded upstream as sent, no malformed input yields FastAPI's 422 shape or a 500, and the
hot path pays for one validation only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gigawatt.core.errors import Forbidden, GigawattError
from gigawatt.inference import deployments, limits_api
from gigawatt.inference.errors import BadRequest, body_of, error_body, validation_message
from gigawatt.inference.gateway import Gateway
from gigawatt.inference.loops import background
from gigawatt.inference.registry import ModelSpec, register
from gigawatt.inference.route_docs import DOCS, STREAMING, Endpoint, GatewayRoute
from gigawatt.inference.schemas import (
    ERRORS,
    STREAM,
)
from gigawatt.inference.settings import InferenceDeps
from gigawatt.inference.spend import SpendQuery, spend_report
from gigawatt.inference.token_accounting import Caller
from gigawatt.store.db import transaction

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def error_response(exc: GigawattError) -> JSONResponse:
    """The OpenAI-format answer for a Gigawatt error."""
    status, body, headers = body_of(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def _openai_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GigawattError as exc:
            return error_response(exc)
        except SQLAlchemyError:
            log.exception("database error on %s %s", request.method, request.url.path)
            body = error_body(503, "database_unavailable", "the database is unavailable; retry")
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def parse_json_model(model: type[M], body: bytes) -> M:
    """``body`` validated as ``model`` (:class:`BadRequest` naming the field otherwise)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors(include_url=False)):
            raise BadRequest("request body is not valid JSON") from None
        message, param = validation_message(exc)
        raise BadRequest(message, param) from None


def build_router(deps: InferenceDeps) -> tuple[APIRouter, Gateway]:
    """The inference routes and the gateway behind them (started by the router's lifespan)."""
    gateway = Gateway(deps)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(background(gateway)) if deps.settings.background else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await gateway.aclose()

    router = APIRouter(lifespan=lifespan, tags=["inference"], route_class=GatewayRoute)

    async def caller_of(request: Request) -> Caller:
        header = request.headers.get("authorization")
        return await gateway.db(lambda: gateway.authenticate(header))

    async def admin_of(request: Request) -> Caller:
        caller = await caller_of(request)
        if not caller.is_admin:
            raise Forbidden("this needs the admin key")
        return caller

    def route(path: str, method: str) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            doc, status = DOCS[(method, path)]
            responses: dict[int | str, dict[str, Any]] = dict(ERRORS)
            if path in STREAMING:
                responses[200] = {"content": STREAM}
            router.add_api_route(
                path,
                Endpoint(_openai_errors(handler), doc),
                methods=[method],
                status_code=status,
                responses=responses,
                name=handler.__name__,
                description=handler.__doc__ or "",
            )
            return handler

        return add

    @route("/v1/chat/completions", "POST")
    async def chat_completions(request: Request) -> Response:
        """OpenAI chat completions (streaming or not), metered by tokens."""
        prep = await gateway.admit(request, "chat")
        return await gateway.respond(prep, request.receive)

    @route("/v1/completions", "POST")
    async def completions(request: Request) -> Response:
        """OpenAI text completions (streaming or not), metered by tokens."""
        prep = await gateway.admit(request, "text")
        return await gateway.respond(prep, request.receive)

    @route("/v1/models", "GET")
    async def list_models(request: Request) -> Response:
        """Models on sale, with prices (admin also sees where they are served)."""
        caller = await caller_of(request)
        models = await gateway.db(gateway.catalog.all)
        if any(m.local for m in models):
            await gateway.db(lambda: gateway.balancer.refresh(force=True))
        data = [
            m.public(caller.is_admin, gateway.balancer.ready_count(m.id) if m.local else None)
            for m in models
        ]
        return JSONResponse({"object": "list", "data": data})

    @route("/v1/models/{model_id:path}", "GET")
    async def get_model(request: Request) -> Response:
        """One model."""
        caller = await caller_of(request)
        model_id = request.path_params["model_id"]
        entry = await gateway.db(lambda: gateway.catalog.get(model_id))
        ready = gateway.balancer.ready_count(entry.id) if entry.local else None
        return JSONResponse(entry.public(caller.is_admin, ready))

    @route("/v1/models", "POST")
    async def register_model(request: Request) -> Response:
        """Register (or re-price) a model (admin)."""
        await admin_of(request)
        spec = parse_json_model(ModelSpec, await request.body())

        def write() -> dict[str, Any]:
            with transaction(deps.sessions) as s:
                entry = register(s, spec, deps.clock.now())
            gateway.catalog.put(entry)
            return entry.public(True)

        return JSONResponse(await gateway.db(write), status_code=201)

    @route("/v1/limits", "PUT")
    async def put_limits(request: Request) -> Response:
        """Set the budget and rate limits of a tenant or key (admin)."""
        await admin_of(request)
        spec = parse_json_model(limits_api.LimitSpec, await request.body())
        view = await gateway.db(lambda: limits_api.set_limits(deps, gateway.limit_cache, spec))
        return JSONResponse(view)

    @route("/v1/limits", "GET")
    async def get_limits(request: Request) -> Response:
        """Limits and current usage (admin: all; a tenant: its own and its keys')."""
        caller = await caller_of(request)
        return JSONResponse({"data": await gateway.db(lambda: limits_api.list_view(deps, caller))})

    @route("/v1/inference/alerts", "GET")
    async def alerts(request: Request) -> Response:
        """Alert events: soft budgets reached (admin: all; a tenant: its own and its keys')."""
        caller = await caller_of(request)
        data = await gateway.db(lambda: limits_api.alerts_view(deps, caller))
        return JSONResponse({"data": data})

    @route("/v1/inference/spend", "GET")
    async def spend(request: Request) -> Response:
        """Inference spend summed by tenant, key, model and/or UTC day (``group_by``), over
        ``since`` (inclusive) to ``until`` (exclusive) dates (admin: all tenants or
        ``tenant_id``'s; a tenant: its own)."""
        caller = await caller_of(request)
        try:
            query = SpendQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            message, param = validation_message(exc)
            raise BadRequest(message, param) from None

        def read() -> dict[str, Any]:
            with transaction(deps.sessions) as s:
                return spend_report(s, caller, query).model_dump(mode="json")

        return JSONResponse(await gateway.db(read))

    @route("/v1/deployments", "POST")
    async def create_deployment(request: Request) -> Response:
        """Run replicas of a ``model_path`` model as service jobs on the fleet."""
        caller = await caller_of(request)
        spec = parse_json_model(deployments.DeploymentSpec, await request.body())
        public = deps.settings.public_url or str(request.base_url).rstrip("/")
        view = await gateway.db(lambda: deployments.create(deps, caller, spec, public))
        return JSONResponse(view, status_code=201)

    @route("/v1/deployments", "GET")
    async def list_deployments(request: Request) -> Response:
        """Deployments visible to the caller, with their replicas."""
        caller = await caller_of(request)
        return JSONResponse(
            {"data": await gateway.db(lambda: deployments.list_views(deps, caller))}
        )

    @route("/v1/deployments/{deployment_id}", "GET")
    async def get_deployment(request: Request) -> Response:
        """One deployment."""
        caller = await caller_of(request)
        dep_id = request.path_params["deployment_id"]
        return JSONResponse(await gateway.db(lambda: deployments.get_view(deps, caller, dep_id)))

    @route("/v1/deployments/{deployment_id}", "DELETE")
    async def delete_deployment(request: Request) -> Response:
        """Stop a deployment's replicas."""
        caller = await caller_of(request)
        dep_id = request.path_params["deployment_id"]
        return JSONResponse(await gateway.db(lambda: deployments.delete(deps, caller, dep_id)))

    @route("/v1/deployments/{deployment_id}/replicas", "POST")
    async def register_replica(request: Request) -> Response:
        """A replica announces its URL (authenticated by its deployment's token)."""
        dep_id = request.path_params["deployment_id"]
        token = request.headers.get("x-replica-token", "")
        spec = parse_json_model(deployments.ReplicaAnnouncement, await request.body())
        await gateway.db(lambda: deployments.register_replica(deps, dep_id, token, spec))
        await gateway.db(lambda: gateway.balancer.refresh(force=True))
        return JSONResponse({"ok": True})

    return router, gateway
