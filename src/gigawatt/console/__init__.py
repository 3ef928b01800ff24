"""The web console: a static single-page app over the JSON API, and offline Swagger UI.

:func:`install_console` mounts it on the FastAPI app; :mod:`gigawatt.console.worth_router`
adds ``GET /v1/worth`` (the fleet's measured worth through the economics engine).
"""

from gigawatt.console.mount import install_console

__all__ = ["install_console"]
