"""The FastAPI application factory.

``create_app(platform)`` wires routers, error handlers, the body-size limit and a per-app
Prometheus registry around a :class:`~gigawatt.services.platform.Platform`; its lifespan runs
the control loop in a background thread (unless disabled) and stops it at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gigawatt.api.errors import BodyLimit, install_error_handlers
from gigawatt.api.idempotency import Idempotency
from gigawatt.api.routers import billing, jobs, keys, system, tenants
from gigawatt.api.schemas import ErrorOut
from gigawatt.console import install_console, worth_router
from gigawatt.services.auth import authenticate
from gigawatt.services.control import ControlLoop
from gigawatt.services.job_control import PlatformJobs
from gigawatt.services.metrics import registry_for
from gigawatt.services.platform import Platform
from gigawatt.services.runner import LoopThread

if TYPE_CHECKING:
    from gigawatt.inference.settings import InferenceSettings

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}


def create_app(
    platform: Platform,
    *,
    run_control_loop: bool | None = None,
    inference: InferenceSettings | None = None,
) -> FastAPI:
    """The HTTP API over ``platform``; the control loop runs unless told (or set) otherwise.

    With ``inference`` settings, the OpenAI-compatible gateway (``/v1/models``,
    ``/v1/chat/completions``, ``/v1/completions``, …) is mounted too.
    """
    run_loop = platform.settings.run_control_loop if run_control_loop is None else run_control_loop

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = LoopThread(ControlLoop(platform), platform.settings.tick_s) if run_loop else None
        app.state.loop_thread = thread
        if thread is not None:
            thread.start()
        try:
            yield
        finally:
            if thread is not None:
                thread.stop()
            platform.backend.close()

    app = FastAPI(
        title="Gigawatt",
        version="0.1.0",
        description="Sell a GPU fleet as an AI cloud: tenants, jobs, usage and invoices.",
        lifespan=lifespan,
        responses=_ERRORS,
        strict_content_type=False,  # curl -d '{…}' sends form content type; accept JSON anyway
        docs_url=None,  # the console serves an offline /docs (Swagger UI from the package)
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.metrics_registry = registry_for(platform)
    install_error_handlers(app)
    for module in (system, tenants, keys, jobs, billing):
        app.include_router(module.router)
    app.include_router(worth_router.router)
    install_console(app)
    if inference is not None:
        from gigawatt.inference.metrics import InferenceCollector
        from gigawatt.inference.router import build_router
        from gigawatt.inference.settings import InferenceDeps

        deps = InferenceDeps(
            sessions=platform.sessions,
            clock=platform.clock,
            authenticate=partial(authenticate, platform),
            settings=inference,
            jobs=PlatformJobs(platform),
        )
        router, gateway = build_router(deps)
        app.state.inference_gateway = gateway
        app.state.metrics_registry.register(InferenceCollector(gateway))
        app.include_router(router)
    limits: dict[str, int] = {}
    if inference is not None:  # prompts may be larger than job submissions
        limits = dict.fromkeys(("/v1/chat/", "/v1/completions"), inference.max_body_bytes)
    app.add_middleware(Idempotency, platform=platform)  # inside the body limit
    app.add_middleware(BodyLimit, max_bytes=platform.settings.max_body_bytes, path_limits=limits)
    return app
