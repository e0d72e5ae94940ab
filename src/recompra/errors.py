"""Domain errors. Each carries the HTTP status the API renders it with."""

from __future__ import annotations


class RecompraError(Exception):
    """Base class of domain errors: a stable ``code``, a message and an optional field."""

    status_code = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(RecompraError):
    """The referenced entity does not exist (or is not visible to the caller)."""

    status_code = 404
    code = "not_found"


class Conflict(RecompraError):
    """The request conflicts with the current state (duplicate, already done, stale)."""

    status_code = 409
    code = "conflict"


class InvalidInput(RecompraError):
    """A value is well-formed but not acceptable for the domain."""

    status_code = 400
    code = "invalid_input"


class InsufficientBalance(RecompraError):
    """Not enough spendable points (or stock) for the operation."""

    status_code = 409
    code = "insufficient_balance"


class Forbidden(RecompraError):
    """The caller is authenticated but not allowed to do this."""

    status_code = 403
    code = "forbidden"


class MalformedCursor(RecompraError):
    """A paging cursor that this API did not hand out (cursors are opaque: echo them back)."""

    status_code = 422
    code = "malformed_cursor"
