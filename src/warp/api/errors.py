"""RFC 9457 problem+json: every error the API returns, with a stable ``type`` per error kind.

Domain errors (``WarpError`` subclasses) map by their ``code``; the HTTP status comes from an
``http_status`` attribute when the class has one, else from the code's shape (``*-not-found`` is
404, ``duplicate-*`` 409, ``invalid-*`` 422). Nothing from SQL or a stack trace reaches a client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warp.auth.errors import RateLimited, Unauthenticated
from warp.errors import WarpError

log = logging.getLogger("warp.api")

TYPE_PREFIX = "urn:warp:problem:"
MEDIA_TYPE = "application/problem+json"

_STATUS_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


def problem_type(code: str) -> str:
    """The stable ``type`` URI of an error code."""
    return TYPE_PREFIX + code


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def status_for(exc: WarpError) -> int:
    """The HTTP status of a domain error."""
    explicit = getattr(exc, "http_status", None)
    if isinstance(explicit, int):
        return explicit
    code = exc.code
    if code.endswith("-not-found"):
        return 404
    if code.startswith("duplicate-") or code.endswith("-conflict"):
        return 409
    if code.startswith("invalid-"):
        return 422
    return 400


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def _warp_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WarpError)
    headers: dict[str, str] = {}
    status = status_for(exc)
    if isinstance(exc, RateLimited):
        headers = {
            "Retry-After": str(exc.retry_after),
            "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(exc.retry_after),
        }
    elif isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="warp"'}
    if status >= 500:
        log.error("domain error %s answered %s: %s", exc.code, status, exc.message)
    extra: dict[str, Any] = {}
    fields = getattr(exc, "field_errors", None)  # e.g. an E911 address: [{"field": ..., "message": ...}]
    if isinstance(fields, list):
        extra["errors"] = fields
    return problem(status, exc.code, exc.message, request=request, headers=headers, **extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_of(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "type": e.get("type")}
        for e in exc.errors()
    ]
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return problem(422, "validation-error", f"invalid request: {fields}", request=request, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http-error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, code, detail, request=request, headers=dict(exc.headers or {}))


def _constraint_field(name: str | None) -> str:
    if not name:
        return "request"
    parts = name.rsplit("_", 1)[0]
    return parts


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.errors.IntegrityError)
    name = exc.diag.constraint_name
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return problem(409, "conflict", f"{_constraint_field(name)}: already exists", request=request)
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        return problem(
            422, "invalid-reference", f"{_constraint_field(name)}: refers to nothing", request=request
        )
    return problem(
        422, "constraint-violation", f"{_constraint_field(name)}: value not allowed", request=request
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    return problem(
        422, "invalid-value", "a value in the request is out of range or malformed", request=request
    )


async def _privilege_error(request: Request, exc: Exception) -> JSONResponse:
    # Row-level security refused a write: the row belongs to another tenant (or none), so it "does not exist".
    return problem(404, "not-found", "no such object", request=request)


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(WarpError, _warp_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(psycopg.errors.IntegrityError, _integrity_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.add_exception_handler(psycopg.errors.InsufficientPrivilege, _privilege_error)


class CatchAllMiddleware:
    """Turns any unexpected exception into a bare 500 problem (logged here, never shown)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id")
            log.exception(
                "unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), request_id
            )
            if started:
                raise
            body: dict[str, Any] = {
                "type": problem_type("internal-error"),
                "title": "Internal Server Error",
                "status": 500,
                "detail": "an unexpected error occurred; quote the request id to support",
            }
            if request_id:
                body["request_id"] = request_id
            response = JSONResponse(body, status_code=500, media_type=MEDIA_TYPE)
            await response(scope, receive, send)
