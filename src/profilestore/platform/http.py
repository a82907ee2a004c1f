"""The request pipeline as one pure ASGI middleware (cheaper than stacked BaseHTTPMiddleware):
request id, body size limit, JSON content type, bearer authentication, one log line."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import structlog
from prometheus_client import Histogram
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from profilestore.platform import rls
from profilestore.platform.access import unauthorized
from profilestore.platform.auth import AuthUnavailable, InvalidToken, TokenVerifier
from profilestore.platform.errors import ProblemError, internal_error, problem_response
from profilestore.platform.fastpath import FastReads, template_pattern
from profilestore.platform.limits import STATE_KEY as LIMIT_STATE
from profilestore.platform.limits import Decision, RateLimits
from profilestore.platform.tickets import TICKET_PARAMETER, StreamTickets

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
API_PREFIX = "/v1/"
GRAPHQL_PATH = "/graphql"

access_log = structlog.get_logger("profilestore.access")
ROUTE_TEMPLATE = "route_template"
"""Key in the request state: the route a fast read answered for (no framework route ran)."""
CACHE_RESULT = "cache_result"
"""Key in the request state: a cached read sets it to ``hit`` or ``miss``."""
BEARER_TOKEN = "bearer_token"  # noqa: S105 (a state key, not a secret)
"""Key in the request state: the bearer token the principal was verified from (absent when the
principal came another way, a stream ticket); the hub forwards it to domain services."""
REQUEST_SECONDS = Histogram(
    "profilestore_http_request_duration_seconds",
    "Request latency by method, route template, status and cache result (hit, miss, none)",
    ["method", "route", "status", "cache"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class RequestPipeline:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        max_body_bytes: int,
        max_auth_header_bytes: int = 8192,
        rate_limits: RateLimits | None = None,
        tickets: StreamTickets | None = None,
        fast_reads: FastReads | None = None,
        body_limits: dict[str, int] | None = None,
        body_media_types: dict[str, tuple[str, ...]] | None = None,
        state: Any = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.tickets = tickets
        self.fast_reads = fast_reads if fast_reads else None
        self.app_state = state
        self.rate_limits = rate_limits if rate_limits is not None and rate_limits.enabled else None
        self.max_body_bytes = max_body_bytes
        self.body_limits = [
            (template_pattern(path), limit) for path, limit in (body_limits or {}).items()
        ]
        self.body_media_types = [
            (template_pattern(path), {media.encode() for media in types})
            for path, types in (body_media_types or {}).items()
        ]
        self.max_auth_header_bytes = max_auth_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = _request_id(headers)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        caller = rls.bind_request(state)  # the database is told who asks (row-level security)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                decision: Decision | None = state.get(LIMIT_STATE)
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                    *(decision.headers() if decision is not None else ()),
                ]
            await send(message)

        try:
            problem = await self._admit(scope, headers, state)
            if problem is not None:
                await problem_response(Request(scope), problem)(scope, receive, send_with_id)
            elif (fast := await self._fast(scope, headers, state)) is not None:
                await fast(scope, receive, send_with_id)
            else:
                await self.app(scope, self._limited(receive, self.body_limit(scope)), send_with_id)
        except Exception:
            access_log.exception("unhandled_error", request_id=request_id)
            if status:
                raise
            await problem_response(Request(scope), internal_error())(scope, receive, send_with_id)
        finally:
            rls.unbind(caller)
            self._log(scope, request_id, status, started, state)

    async def _admit(
        self, scope: Scope, headers: dict[bytes, bytes], state: dict[str, Any]
    ) -> ProblemError | None:
        """Checks before routing; returns the problem that refuses the request, if any."""
        length = headers.get(b"content-length")
        limit = self.body_limit(scope)
        if length is not None and (not length.isdigit() or int(length) > limit):
            return ProblemError(413, "payload-too-large", f"The body exceeds {limit} bytes.")
        if not _authenticated_path(scope):
            return None
        problem = await self._authenticate(headers, state)
        if problem is not None and b"authorization" not in headers:
            refused = await self._redeem_ticket(scope, state)
            if refused is not None or "principal" in state:
                problem = refused
        if self.rate_limits is not None:
            refused = await self._limit(scope, state, failed_auth=problem is not None)
            if refused is not None:
                return refused
        checks_body = problem is None and scope["method"] in _BODY_METHODS and _has_body(headers)
        if checks_body:
            return self._media_type_problem(scope, headers.get(b"content-type", b""))
        return problem

    def _media_type_problem(self, scope: Scope, content_type: bytes) -> ProblemError | None:
        """415 unless the body's type is JSON, or one a route of ``body_media_types`` takes."""
        media = content_type.split(b";", 1)[0].strip().lower()
        for pattern, accepted in self.body_media_types:
            if pattern.match(scope["path"]):
                if media in accepted:
                    return None
                listed = ", ".join(sorted(value.decode() for value in accepted))
                return ProblemError(415, "unsupported-media-type", f"Send the body as {listed}.")
        if _is_json(content_type):
            return None
        return ProblemError(415, "unsupported-media-type", "Send the body as application/json.")

    async def _limit(
        self, scope: Scope, state: dict[str, Any], *, failed_auth: bool
    ) -> ProblemError | None:
        assert self.rate_limits is not None
        principal = None if failed_auth else state.get("principal")
        policy = self.rate_limits.policy_for(principal, scope["method"])
        identity = principal.subject if principal is not None else _client_ip(scope)
        decision = await self.rate_limits.hit(policy, identity)
        state[LIMIT_STATE] = decision
        return None if decision.allowed else decision.problem()

    async def _fast(
        self, scope: Scope, headers: dict[bytes, bytes], state: dict[str, Any]
    ) -> Response | None:
        """The answer of a fast read (``platform.fastpath``), if one serves this request."""
        if self.fast_reads is None or "principal" not in state:
            return None
        found = self.fast_reads.match(scope)
        if found is None:
            return None
        read, params = found
        response = await read.handler(self.app_state, state, state["principal"], params, headers)
        if response is not None:
            state[ROUTE_TEMPLATE] = read.route_path
        return response

    async def _redeem_ticket(self, scope: Scope, state: dict[str, Any]) -> ProblemError | None:
        """A stream request (GET .../stream) may stand on a single-use ticket instead of a
        bearer header (EventSource cannot send one). Sets the principal, or returns why the
        ticket is refused; does nothing on other requests."""
        if (
            self.tickets is None
            or scope["method"] != "GET"
            or not scope["path"].endswith("/stream")
        ):
            return None
        query = parse_qs(scope["query_string"].decode("latin-1"))
        given = query.get(TICKET_PARAMETER)
        if not given:
            return None
        principal = await self.tickets.redeem(given[0])
        if principal is None:
            return unauthorized("The stream ticket is unknown, used or expired.")
        state["principal"] = principal
        return None

    async def _authenticate(
        self, headers: dict[bytes, bytes], state: dict[str, Any]
    ) -> ProblemError | None:
        value = headers.get(b"authorization", b"")
        if len(value) > self.max_auth_header_bytes:
            return unauthorized(
                f"The Authorization header exceeds {self.max_auth_header_bytes} bytes."
            )
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized()
        try:
            state["principal"] = await self.verifier.verify(token.strip())
            state[BEARER_TOKEN] = token.strip()
        except InvalidToken:
            return unauthorized("The bearer token is invalid or expired.")
        except AuthUnavailable:
            return ProblemError(503, "auth-unavailable", "Signing keys cannot be loaded right now.")
        return None

    def body_limit(self, scope: Scope) -> int:
        """The most bytes a request to this path may send (most paths: the setting)."""
        if scope["method"] in ("POST", "PUT", "PATCH"):
            for pattern, limit in self.body_limits:
                if pattern.match(scope["path"]):
                    return limit
        return self.max_body_bytes

    def _limited(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"The body exceeds {limit} bytes.")
            return message

        return limited_receive

    @staticmethod
    def _log(
        scope: Scope, request_id: str, status: int, started: float, state: dict[str, Any]
    ) -> None:
        route = scope.get("route")
        principal = state.get("principal")
        elapsed = time.perf_counter() - started
        route_path = getattr(route, "path_format", None) or state.get(ROUTE_TEMPLATE)
        _latency(
            scope["method"], route_path or "unmatched", status, state.get(CACHE_RESULT, "none")
        ).observe(elapsed)
        access_log.info(
            "request",
            request_id=request_id,
            method=scope["method"],
            route=route_path,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            user=principal.subject if principal is not None else None,
        )


_latency_children: dict[tuple[str, str, int, str], Any] = {}


def _latency(method: str, route: str, status: int, cache: str) -> Any:
    """The histogram child of these labels (``labels()`` costs a lock and a tuple per call)."""
    key = (method, route, status, cache)
    child = _latency_children.get(key)
    if child is None:
        child = REQUEST_SECONDS.labels(method, route, str(status), cache)
        _latency_children[key] = child
    return child


def _authenticated_path(scope: Scope) -> bool:
    """``/v1`` routes and GraphQL operations at ``/graphql`` and under it (not the GraphiQL
    page: a GET without a query)."""
    path = scope["path"]
    if path.startswith(API_PREFIX):
        return True
    if path.rstrip("/") != GRAPHQL_PATH and not path.startswith(f"{GRAPHQL_PATH}/"):
        return False
    return scope["method"] != "GET" or b"query=" in scope["query_string"]


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _request_id(headers: dict[bytes, bytes]) -> str:
    given = headers.get(REQUEST_ID_HEADER)
    if given and _SAFE_REQUEST_ID.match(given):
        return given.decode()
    return uuid.uuid4().hex


def _has_body(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )
