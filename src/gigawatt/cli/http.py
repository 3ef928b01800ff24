"""HTTP client used by the client commands (``gigawatt jobs …``): URL and key from the environment.

``GIGAWATT_URL`` (default ``http://127.0.0.1:8000``) and ``GIGAWATT_API_KEY`` select the server
and the caller. Every failure becomes one line on stderr and exit code 2 (server said no) or 1
(server unreachable); no traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import typer

DEFAULT_URL = "http://127.0.0.1:8000"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@dataclass(frozen=True)
class ApiClient:
    """A thin JSON client for the Gigawatt HTTP API."""

    base_url: str
    api_key: str | None
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiClient:
        """Build from ``GIGAWATT_URL`` and ``GIGAWATT_API_KEY``."""
        source = os.environ if env is None else env
        return cls(
            source.get("GIGAWATT_URL", DEFAULT_URL).rstrip("/"), source.get("GIGAWATT_API_KEY")
        )

    def request_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """GET every page of a listing (following ``X-Next-Cursor``) as one list."""
        items: list[Any] = []
        query = dict(params or {})
        while True:
            body, cursor = self._send("GET", path, None, query)
            items += body if isinstance(body, list) else [body]
            if not cursor:
                return items
            query["cursor"] = cursor

    def request(self, method: str, path: str, json: Any = None, params: Any = None) -> Any:
        """Send a request; return the decoded body, or exit with the server's error."""
        return self._send(method, path, json, params)[0]

    def _send(self, method: str, path: str, json: Any, params: Any) -> tuple[Any, str | None]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.request(
                method,
                f"{self.base_url}{path}",
                json=json,
                params=params,
                headers=headers,
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.base_url}: {exc}", code=1)
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                fail(f"{error.get('message', body)} ({error.get('code', response.status_code)})")
            fail(f"HTTP {response.status_code}: {body}")
        return body, response.headers.get("x-next-cursor")
