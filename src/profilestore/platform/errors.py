"""RFC 9457 problem+json: one error type carries status, code, detail and field errors."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from profilestore.platform.jsonutil import dumps

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:profilestore:problem:"

log = structlog.get_logger("profilestore.errors")


class FieldError(BaseModel):
    """One invalid field: where it is (a JSON pointer-like path) and what is wrong."""

    field: str = Field(description="Dotted location of the field, e.g. body.username")
    message: str
    code: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str = Field(description="Stable URI naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """Raise anywhere to answer with a problem+json response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def invalid(field: str, message: str, code: str = "value_error") -> ProblemError:
    """A 422 for one invalid input, named by its location (``body.x``, ``query.x``,
    ``path.x``, ``header.x``): the one way every domain reports a rule it checked itself."""
    error = FieldError(field=field, message=message, code=code)
    return ProblemError(422, "validation-failed", "The request is not valid.", errors=[error])


def not_found(what: str = "resource") -> ProblemError:
    return ProblemError(404, "not-found", f"The {what} does not exist.")


def problem_response(request: Request, error: ProblemError) -> Response:
    body = Problem(
        type=TYPE_PREFIX + error.code,
        title=HTTPStatus(error.status).phrase,
        status=error.status,
        detail=error.detail,
        instance=request.url.path,
        request_id=request.scope.get("state", {}).get("request_id"),
        errors=error.errors,
    )
    return Response(
        dumps(body.model_dump(exclude_none=True)),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


_STATUS_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    428: "precondition-required",
    429: "too-many-requests",
    503: "service-unavailable",
}


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(errors: list[dict[str, Any]]) -> ProblemError:
    """Turn pydantic/FastAPI validation errors into one 400 or 422 problem."""
    if any(err.get("type") == "json_invalid" for err in errors):
        return ProblemError(400, "malformed-json", "The request body is not valid JSON.")
    fields = [
        FieldError(field=_field_path(tuple(e.get("loc", ()))), message=e["msg"], code=e["type"])
        for e in errors
    ]
    return ProblemError(422, "validation-failed", "The request is not valid.", errors=fields)


# Errors that mean a dependency cannot be reached: answered 503 with Retry-After.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    SQLAlchemyTimeoutError,
    OSError,
    TimeoutError,
    RedisError,
)


_CONNECTION_FAULTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def is_connection_fault(exc: DBAPIError) -> bool:
    """Whether a database error means the connection (not the statement) failed: killed by
    the server, lost, or left mid-operation (asyncpg's "another operation is in progress")."""
    if exc.connection_invalidated:
        return True
    seen: set[int] = set()
    cause: BaseException | None = exc.orig
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, _CONNECTION_FAULTS):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(
            request, ProblemError(exc.status_code, code, detail, headers=headers)
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, validation_problem(list(exc.errors())))

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return problem_response(request, unavailable())

    async def on_database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        if not is_connection_fault(exc):
            raise exc  # a statement the database refused is a bug: the pipeline answers 500
        log.warning("database_connection_lost", error=type(exc.orig).__name__)
        return problem_response(request, unavailable())

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    for unreachable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unreachable, on_unavailable)
    app.add_exception_handler(DBAPIError, on_database_error)


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path has. Each method of a path is its own route, so
    Starlette's ``Allow`` (the first matching route's) would name only one of them."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods.update(route_methods)
    return sorted(methods)


def unavailable() -> ProblemError:
    return ProblemError(
        503,
        "service-unavailable",
        "A dependency (database or cache) is unavailable; retry later.",
        headers={"Retry-After": "1"},
    )


def internal_error() -> ProblemError:
    return ProblemError(500, "internal-error", "An unexpected error occurred.")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {status: {"model": Problem, **problem_openapi(status)} for status in statuses}


def problem_openapi(status: int) -> dict[str, Any]:
    """The OpenAPI description of an error response: problem+json with the Problem schema."""
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
