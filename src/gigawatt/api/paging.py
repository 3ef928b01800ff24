"""Cursor pagination at the edge: ``limit`` and ``cursor`` query parameters in, the next
page's cursor out in the ``X-Next-Cursor`` response header (absent on the last page). The
body stays a JSON array, so clients that read one page keep working."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

NEXT_CURSOR = "X-Next-Cursor"

CursorQ = Annotated[
    str | None,
    Query(max_length=1024, description=f"the {NEXT_CURSOR} header of the previous page"),
]


def set_next_cursor(response: Response, cursor: str | None) -> None:
    """Tell the client where the next page starts (nothing on the last page)."""
    if cursor is not None:
        response.headers[NEXT_CURSOR] = cursor
