"""The HTTP API: :func:`create_app` builds the FastAPI application over a platform."""

from gigawatt.api.app import create_app

__all__ = ["create_app"]
