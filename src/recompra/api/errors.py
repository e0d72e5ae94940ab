"""One error body for every failure: ``{"error": {"code", "message", "field"}}``.

Domain errors (:class:`recompra.errors.RecompraError`) carry their HTTP status; this
module renders them, malformed payloads (422), unknown routes and methods, and declares
the error responses in OpenAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from recompra.errors import RecompraError

logger = logging.getLogger(__name__)


class Unauthorized(RecompraError):
    """No API key, an unknown key or a revoked key."""

    status_code = 401
    code = "unauthorized"


class RateLimited(RecompraError):
    """The key has spent its request budget; retry after ``RateLimit-Reset`` seconds."""

    status_code = 429
    code = "rate_limited"


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a human message and the offending field, if any."""

    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Invalid input (the value is well-formed but not acceptable)",
    401: "Missing, unknown or revoked API key",
    403: "The key lacks the required scope",
    404: "Not found, or not visible to this key's brand",
    409: "Conflict (idempotency key reused with another body, insufficient balance, "
    "`not_analysed`: the brand's analytics have not run yet...)",
    422: "Malformed payload",
    429: "Rate limit exceeded",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


#: Errors any authenticated endpoint can return.
AUTH_ERRORS = (401, 403, 429)
#: What a brand-scoped read can answer besides 200: bad input, the key's errors, not found.
READ_ERRORS = error_responses(400, *AUTH_ERRORS, 404)
#: What a brand-scoped write can answer: a read's errors and a conflict.
WRITE_ERRORS = error_responses(400, *AUTH_ERRORS, 404, 409)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error body."""
    return {"error": {"code": code, "message": message, "field": field}}


def _field_from_loc(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or None


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RecompraError)
    headers = getattr(exc, "headers", None)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.field),
        status_code=exc.status_code,
        headers=headers,
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    message = str(first.get("msg", "malformed request"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return JSONResponse(
        error_body("validation_error", message, _field_from_loc(first.get("loc", ()))),
        status_code=422,
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


def _openapi_with_error_bodies(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI documents 422 with its own schema; we answer with ``ErrorResponse``."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        ref = {"$ref": "#/components/schemas/ErrorResponse"}
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorResponse" not in components:
            components["ErrorResponse"] = ErrorResponse.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            components.update(components["ErrorResponse"].pop("$defs", {}))
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                response = operation.get("responses", {}).get("422")
                if response is not None:
                    response["description"] = _DESCRIPTIONS[422]
                    response["content"] = {"application/json": {"schema": ref}}
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    return openapi


def install_error_handlers(app: FastAPI) -> None:
    """Render every error with the one error body."""
    app.add_exception_handler(RecompraError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.openapi = _openapi_with_error_bodies(app)  # type: ignore[method-assign]
