"""Serve the web console at ``/``, its assets at ``/assets`` and Swagger UI at ``/docs``.

Everything is a static file from this package: the console is HTML and ES modules that call
the public JSON API with the key the user typed (kept in ``sessionStorage``, sent as a bearer
header), so it adds no privileged path. A Content-Security-Policy lets pages load scripts,
styles, images and API responses from this origin only.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from gigawatt.console.vendor import STATIC_DIR, SWAGGER_UI

#: Same origin only. Swagger UI sets inline styles and shows data: images.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ASSETS = "/assets"


class _Assets(StaticFiles):
    """Static files that the browser revalidates (ETag) on each load, so an upgraded server
    never runs with a stale module next to a new one."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def docs_html(openapi_url: str, title: str) -> str:
    """Swagger UI's page with every asset from this server (no CDN, no inline script)."""
    vendor = f"{ASSETS}/vendor/{SWAGGER_UI.folder}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – API docs</title>
<link rel="icon" type="image/png" href="{vendor}/favicon-32x32.png">
<link rel="stylesheet" href="{vendor}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{vendor}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/js/swagger-init.js"></script>
</body>
</html>
"""


def install_console(app: FastAPI) -> None:
    """Add the console (``/``), its static files and offline Swagger UI (``/docs``) to ``app``.

    Create the app with ``docs_url=None`` so this ``/docs`` replaces FastAPI's CDN one.
    """
    index = STATIC_DIR / "index.html"
    page = docs_html(app.openapi_url or "/openapi.json", app.title)

    @app.get("/", include_in_schema=False)
    def console_index() -> FileResponse:
        """The console's single page."""
        return FileResponse(index, media_type="text/html", headers=_HEADERS)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """Swagger UI over ``/openapi.json``, served from this package."""
        return HTMLResponse(page, headers=_HEADERS)

    app.mount(ASSETS, _Assets(directory=STATIC_DIR), name="console-assets")
    _declare_bearer_auth(app)


def _declare_bearer_auth(app: FastAPI) -> None:
    """Say in the OpenAPI document that requests carry ``Authorization: Bearer <key>``, so
    Swagger UI's *Authorize* button sends the key with *Try it out*."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        if "apiKey" not in schemes:
            schemes["apiKey"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key: the admin key gigawatt serve printed, or a tenant key",
            }
            schema.setdefault("security", [{"apiKey": []}])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
