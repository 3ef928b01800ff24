"""The FastAPI application factory.

``create_app(platform)`` wires routers, error handlers, the body-size limit and a per-app
Prometheus registry around a :class:`~gigawatt.services.platform.Platform`; its lifespan runs
the control loop in a background thread (unless disabled) and stops it at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gigawatt.api.errors import BodyLimit, install_error_handlers
from gigawatt.api.routers import billing, jobs, system, tenants
from gigawatt.api.schemas import ErrorOut
from gigawatt.services.control import ControlLoop
from gigawatt.services.metrics import registry_for
from gigawatt.services.platform import Platform
from gigawatt.services.runner import LoopThread

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}


def create_app(platform: Platform, *, run_control_loop: bool | None = None) -> FastAPI:
    """The HTTP API over ``platform``; the control loop runs unless told (or set) otherwise."""
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
    )
    app.state.platform = platform
    app.state.metrics_registry = registry_for(platform)
    install_error_handlers(app)
    for module in (system, tenants, jobs, billing):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=platform.settings.max_body_bytes)
    return app
