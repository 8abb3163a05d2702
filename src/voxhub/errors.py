"""The VoxhubError hierarchy and the one JSON error shape every response uses — except under /v1, where OpenAI's
clients expect OpenAI's own error shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

log = logging.getLogger("voxhub.errors")


class VoxhubError(Exception):
    """An error a client should see: a status, a stable machine-readable code and a human message."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."
    # Errors that must not undo what the request already recorded (a failed login is still counted).
    keep_changes = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(VoxhubError):
    status_code = 400


class Unauthorized(VoxhubError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(VoxhubError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class PaymentRequired(VoxhubError):
    status_code = 402
    code = "insufficient_credits"
    message = "Not enough credits or allowance left for this."


class NotFound(VoxhubError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(VoxhubError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Unprocessable(VoxhubError):
    status_code = 422
    code = "validation_error"
    message = "The request is not valid."


class TooManyRequests(VoxhubError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after_s: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after_s))})
        kwargs.setdefault("details", {"retry_after_s": max(1, retry_after_s)})
        super().__init__(message, **kwargs)


class ServiceUnavailable(VoxhubError):
    """Something voxhub depends on (the database, the blob store) cannot be reached: nothing was done, try again."""

    status_code = 503
    code = "service_unavailable"
    message = "A service voxhub depends on is not reachable right now; try again shortly."
    retry_after_s = 5

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(self.retry_after_s)})
        super().__init__(message, **kwargs)


# The database could not be reached or dropped the connection: PostgreSQL restarting, a network cut. The pool's
# pre-ping replaces dead connections on the next checkout, so the request after it is back succeeds.
DATABASE_UNREACHABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database is unreachable or too busy (rather than that a statement was wrong)."""
    return isinstance(exc, DATABASE_UNREACHABLE) or bool(getattr(exc, "connection_invalidated", False))


def is_database_busy(exc: BaseException) -> bool:
    """Whether the database answered but not in time: SQLite's write lock held past the busy timeout, or every pooled
    connection in use. A 503 like an outage, but told as what it is."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig)


class EngineFailed(VoxhubError):
    status_code = 500
    code = "engine_error"
    message = "The speech engine failed."


class EngineBusy(VoxhubError):
    status_code = 503
    code = "engine_unavailable"
    message = "The speech engine is not available right now; try again."


def field_errors(*fields: tuple[str, str]) -> dict[str, Any]:
    """`details` naming the offending fields, `(field, message)` each, in the shape validation errors have."""
    return {"fields": [{"field": field, "message": message} for field, message in fields]}


class RequestTooLarge(StarletteHTTPException):
    """A request body over the size limit. An HTTPException rather than a VoxhubError because it is raised while the
    body is read, where FastAPI turns any other exception into a 400; its handler answers in the one shape."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than the {max_bytes // 1024} KiB allowed.")
        self.max_bytes = max_bytes


# Not an HTTP status but nginx's name for it: the client went away before it could be answered.
CLIENT_CLOSED_REQUEST = 499


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def internal_error_response(path: str = "") -> JSONResponse:
    """The answer to an unexpected failure on `path`: the one shape (OpenAI's under /v1), and nothing about what went
    wrong inside."""
    code, message = "internal_error", "Something went wrong on our side; it has been logged."
    if _is_openai_path(path):
        return openai_error_response(500, code, message)
    return error_response(500, code, message)


_HTTP_CODES = {
    400: ("bad_request", "The request could not be processed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed on this resource."),
    413: ("request_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "The request body's content type is not supported."),
}


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            fields.append({"field": "body", "message": _json_problem(exc, err), "type": "json_invalid"})
            continue
        loc = [str(part) for part in err.get("loc", ())]
        fields.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return {"fields": fields}


def _json_problem(exc: RequestValidationError, err: dict[str, Any]) -> str:
    """What is wrong with a body that is not JSON, and where: `Expecting value at line 1, column 11 (char 10)`."""
    problem = str((err.get("ctx") or {}).get("error") or "not valid JSON")
    loc = err.get("loc", ())
    position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if position is None:
        return f"The body is not valid JSON: {problem}."
    document = exc.body if isinstance(exc.body, str) else ""
    line = document.count("\n", 0, position) + 1
    column = position - document.rfind("\n", 0, position)
    return f"The body is not valid JSON: {problem} at line {line}, column {column} (char {position})."


def _field_name(exc: RequestValidationError) -> str | None:
    """The first offending field as OpenAI's `param` names it: `speed`, not `body.speed`."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # its loc is a character position, not a field
            return None
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        if loc:
            return ".".join(loc)
    return None


# ---- OpenAI's error shape, for the OpenAI-compatible routes under /v1 ----

OPENAI_PREFIX = "/v1"
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    402: "insufficient_quota",
    404: "not_found_error",
    429: "rate_limit_error",
}


def openai_error_response(
    status: int, code: str, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """`{"error": {"message", "type", "param", "code"}}` as OpenAI answers; OpenAI never answers 422, so neither do
    these routes."""
    status = 400 if status == 422 else status
    kind = _OPENAI_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _is_openai_path(path: str) -> bool:
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def _route_path(request: Request) -> str:
    return request.url.path.removeprefix(request.scope.get("root_path", "") or "")


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    param: str | None = None,
) -> JSONResponse:
    """The error in the shape the route's clients expect: OpenAI's under /v1, voxhub's everywhere else."""
    if _is_openai_path(_route_path(request)):
        param = param or (details or {}).get("param")
        return openai_error_response(status, code, message, param=param, headers=headers)
    return error_response(status, code, message, details, headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route answers on the request's path: Starlette's 405 names only the first route's."""
    matching = [
        (len(route.param_convertors), route.methods)
        for route in iter_route_contexts(request.app.router.routes)
        if route.methods and route.matches(request.scope)[0] is not Match.NONE
    ]
    # `/podcasts/estimate` is also `/podcasts/{podcast_id}`: the path with the fewest parameters is the one meant.
    fewest = min((count for count, _ in matching), default=0)
    return ", ".join(sorted({method for count, methods in matching if count == fewest for method in methods}))


def install_error_handlers(app: FastAPI) -> None:
    """Every error a client can receive goes through one of these handlers and so has the one shape."""

    @app.exception_handler(VoxhubError)
    async def _voxhub_error(request: Request, exc: VoxhubError) -> JSONResponse:
        return _respond(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details["fields"][0] if details["fields"] else None
        if first and first["type"] == "json_invalid":
            message = first["message"]
        else:
            message = f"{first['field']}: {first['message']}" if first else "The request is not valid."
        return _respond(request, 422, "validation_error", message, details, param=_field_name(exc))

    @app.exception_handler(RequestTooLarge)
    async def _too_large(request: Request, exc: RequestTooLarge) -> JSONResponse:
        return _respond(request, 413, "request_too_large", str(exc.detail), {"max_bytes": exc.max_bytes})

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody is left to answer, and nothing went wrong on our side: no traceback, no 500 in the metrics.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, ("error", "The request failed."))
        if isinstance(exc.detail, str) and exc.status_code not in (404, 405):
            message = exc.detail
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return _respond(request, exc.status_code, code, message, headers=headers)

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, sa_exc.DataError):  # a value the database cannot store (PostgreSQL: a NUL in text)
            log.info("value refused by the database on %s %s: %s", request.method, request.url.path, exc.orig)
            return _respond(request, 422, "invalid_value", "A value in the request cannot be stored.")
        if not is_database_outage(exc):
            return await _unexpected(request, exc)
        busy = is_database_busy(exc)
        what = "busy" if busy else "unreachable"
        log.warning("database %s during %s %s: %s", what, request.method, request.url.path, exc)
        state = "too busy to answer in time" if busy else "not reachable right now"
        unavailable = ServiceUnavailable(f"The database is {state}; try again shortly.")
        return _respond(request, 503, unavailable.code, unavailable.message, headers=unavailable.headers)

    for database_error in (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError):
        app.add_exception_handler(database_error, _database_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return internal_error_response(_route_path(request))


# ---- OpenAPI: every route documents the errors it can answer with, in the one shape ----

from pydantic import BaseModel  # noqa: E402


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorOut(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Bad request (e.g. an invalid or expired token, or a body that cannot be parsed)",
    401: "Not authenticated, or the token or API key is not valid",
    402: "Payment required: insufficient_credits or quota_exceeded; details say what was needed and what is left",
    403: "Authenticated but not allowed (role, scope, or unverified email)",
    404: "Not found — also the answer for workspaces the caller is not a member of",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Validation error; details.fields names the offending fields",
    429: "Too many requests; see the Retry-After header",
    503: "Not ready",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]} for status in statuses}


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    error: OpenAIErrorDetail


_OPENAI_DESCRIPTIONS = {
    400: "invalid_request_error: a missing or invalid field (`param` names it), or unusable audio",
    401: "authentication_error: no API key, or not a valid voxhub API key",
    403: "permission_error: the key's scope does not allow this",
    402: "insufficient_quota: the plan's allowance and the workspace's credits do not cover this call",
    404: "not_found_error: no such model",
    429: "rate_limit_error: too many requests for the plan; `Retry-After` says when to try again",
    413: "invalid_request_error: the file or the audio is too long for a synchronous call; use the jobs API",
    503: "server_error: the speech engine is unavailable; try again",
}


def openai_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error responses in OpenAI's shape, for the OpenAPI description of the /v1 routes."""
    return {status: {"model": OpenAIErrorOut, "description": _OPENAI_DESCRIPTIONS[status]} for status in statuses}


def document_body_errors(app: FastAPI) -> None:
    """Every operation that reads a request body can answer 400 (a body that cannot be parsed: not UTF-8, a broken
    form) and 413 (over VOXHUB_MAX_REQUEST_BODY_KB) before its own code runs: its OpenAPI description says so."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                model, descriptions = (
                    ("OpenAIErrorOut", _OPENAI_DESCRIPTIONS) if _is_openai_path(path) else ("ErrorOut", _DESCRIPTIONS)
                )
                content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}
                for operation in operations.values():
                    if "requestBody" in operation:
                        for status in (400, 413):
                            operation["responses"].setdefault(
                                str(status), {"description": descriptions[status], "content": content}
                            )
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
