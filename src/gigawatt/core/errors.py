"""One error hierarchy for the whole project.

Every error a user can cause is a :class:`GigawattError` with a stable ``code``;
the HTTP layer maps them to 4xx responses and the CLI to a message and exit code 2.
"""

from __future__ import annotations


class GigawattError(Exception):
    """Base of all expected errors. ``code`` is stable and machine-readable."""

    code: str = "error"
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GigawattError):
    """A value is malformed or out of its allowed range."""

    code = "invalid_input"
    http_status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NotFound(GigawattError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"
    http_status = 404


class Conflict(GigawattError):
    """The request conflicts with the current state (e.g. leaving a terminal state)."""

    code = "conflict"
    http_status = 409


class Unauthorized(GigawattError):
    """Missing or invalid credentials."""

    code = "unauthorized"
    http_status = 401


class Forbidden(GigawattError):
    """Valid credentials without the right to do this."""

    code = "forbidden"
    http_status = 403


class Unschedulable(GigawattError):
    """A job that can never fit the fleet (too many GPUs, unknown type, uneven gang)."""

    code = "unschedulable"
    http_status = 422


class InvalidCursor(GigawattError):
    """A pagination cursor that this server did not hand out (or for another listing)."""

    code = "invalid_cursor"
    http_status = 400
