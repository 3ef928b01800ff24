"""OpenAPI description of the inference routes, kept apart from how they are served.

A :class:`GatewayRoute`'s endpoint is an :class:`Endpoint`: FastAPI documents it from the
signature of a function here (the pydantic request model, path parameters and response
model), and the route hands requests to the gateway's own handler, which parses the body
itself (see :mod:`gigawatt.inference.router`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from gigawatt.inference import deployments, limits_api
from gigawatt.inference.registry import ModelSpec
from gigawatt.inference.schemas import (
    AlertList,
    ChatCompletion,
    Completion,
    DeploymentList,
    DeploymentView,
    LimitList,
    LimitView,
    ModelList,
    ModelOut,
    Ok,
)
from gigawatt.inference.spend import SpendReport
from gigawatt.inference.wire import ChatCompletionRequest, CompletionRequest

Handler = Callable[[Request], Awaitable[Response]]


class Endpoint:
    """A route's endpoint: documented by ``doc``'s signature, served by ``serve``."""

    def __init__(self, serve: Handler, doc: Callable[..., Any]) -> None:
        self.serve = serve
        functools.update_wrapper(self, doc)

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        """Never called: :class:`GatewayRoute` serves requests with :attr:`serve`."""
        raise NotImplementedError


class GatewayRoute(APIRoute):
    """An API route whose requests go to its :class:`Endpoint`'s ``serve`` handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The raw handler (FastAPI's parsing is for the documentation only)."""
        if not isinstance(self.endpoint, Endpoint):
            return super().get_route_handler()
        serve = self.endpoint.serve

        async def handle(request: Request) -> Response:
            return await serve(request)

        return handle


# Signatures that document the routes (request and response models); never called.
def _chat(body: ChatCompletionRequest) -> ChatCompletion:
    raise NotImplementedError


def _text(body: CompletionRequest) -> Completion:
    raise NotImplementedError


def _models() -> ModelList:
    raise NotImplementedError


def _model(model_id: str) -> ModelOut:
    raise NotImplementedError


def _register(body: ModelSpec) -> ModelOut:
    raise NotImplementedError


def _put_limits(body: limits_api.LimitSpec) -> LimitView:
    raise NotImplementedError


def _limits() -> LimitList:
    raise NotImplementedError


def _create_deployment(body: deployments.DeploymentSpec) -> DeploymentView:
    raise NotImplementedError


def _deployments() -> DeploymentList:
    raise NotImplementedError


def _deployment(deployment_id: str) -> DeploymentView:
    raise NotImplementedError


def _register_replica(deployment_id: str, body: deployments.ReplicaAnnouncement) -> Ok:
    raise NotImplementedError


def _alerts() -> AlertList:
    raise NotImplementedError


def _spend(
    group_by: str = "tenant,model,day",
    since: dt.date | None = None,
    until: dt.date | None = None,
    tenant_id: str | None = None,
) -> SpendReport:
    raise NotImplementedError


DOCS: dict[tuple[str, str], tuple[Callable[..., Any], int]] = {
    ("POST", "/v1/chat/completions"): (_chat, 200),
    ("POST", "/v1/completions"): (_text, 200),
    ("GET", "/v1/models"): (_models, 200),
    ("GET", "/v1/models/{model_id:path}"): (_model, 200),
    ("POST", "/v1/models"): (_register, 201),
    ("PUT", "/v1/limits"): (_put_limits, 200),
    ("GET", "/v1/inference/spend"): (_spend, 200),
    ("GET", "/v1/inference/alerts"): (_alerts, 200),
    ("GET", "/v1/limits"): (_limits, 200),
    ("POST", "/v1/deployments"): (_create_deployment, 201),
    ("GET", "/v1/deployments"): (_deployments, 200),
    ("GET", "/v1/deployments/{deployment_id}"): (_deployment, 200),
    ("DELETE", "/v1/deployments/{deployment_id}"): (_deployment, 200),
    ("POST", "/v1/deployments/{deployment_id}/replicas"): (_register_replica, 200),
}
STREAMING = {"/v1/chat/completions", "/v1/completions"}
