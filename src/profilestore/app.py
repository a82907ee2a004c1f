"""The ASGI application: ``create_app(settings)`` mounts the platform and every domain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from profilestore import __version__
from profilestore.domains.registry import DOMAINS, selected
from profilestore.hub import api as hub_api
from profilestore.hub import privacy as hub_privacy
from profilestore.hub import remote as hub_remote
from profilestore.hub.graphql.router import graphql_routers
from profilestore.platform import (
    audit_api,
    erasure,
    export,
    gcpauses,
    idempotency,
    owners_api,
    tickets,
)
from profilestore.platform.access import Access
from profilestore.platform.auth import build_verifier
from profilestore.platform.cache import build_cache
from profilestore.platform.db import Database
from profilestore.platform.errors import Problem, install_error_handlers, problem_openapi
from profilestore.platform.events import api as events_api
from profilestore.platform.events.metrics import BacklogGauges
from profilestore.platform.events.outbox import EventOptions
from profilestore.platform.events.relay import Relay, build_publisher, relay_config
from profilestore.platform.fastpath import FastReads
from profilestore.platform.http import API_PREFIX, RequestPipeline
from profilestore.platform.invalidation import InvalidationListener
from profilestore.platform.limits import RateLimits
from profilestore.platform.observability import configure_logging, health_router
from profilestore.platform.registry import (
    Domain,
    body_limits,
    body_media_types,
    fast_reads,
    install,
)
from profilestore.platform.routing import refuse_unknown_query_parameters
from profilestore.platform.tickets import StreamTickets
from profilestore.platform.uow import unit_of_work
from profilestore.settings import Settings

log = structlog.get_logger("profilestore.app")

DESCRIPTION = """User profiles for app platforms: identity profile, preferences, addresses,
contacts and blocks, and an events feed of every change.

Every `/v1` route needs `Authorization: Bearer <JWT>`; each states who may call it
(`x-access`). Errors are `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    domains = selected(settings.domains)  # refuses a selection that cannot serve
    configure_logging(settings.log_level)
    gcpauses.measure_pauses()
    verifier = build_verifier(settings)
    db = Database(settings)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(in_process_relay(application, settings, db))
            await stack.enter_async_context(invalidations(application))
            await stack.enter_async_context(hub_remote.lifespan(application))
            await stack.enter_async_context(hub_privacy.lifespan(application))
            for domain in domains:
                if domain.lifespan is not None:
                    await stack.enter_async_context(domain.lifespan(application))
            if settings.gc_freeze:
                gcpauses.freeze()
            yield
        await application.state.cache.close()
        await application.state.stream_tickets.close()
        await verifier.aclose()
        await db.dispose()

    app = FastAPI(
        title="profilestore",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Metrics are Prometheus (/metrics); FastAPI's OpenTelemetry hooks would look up
        # providers on every request (measured: ~2% of a cached read's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.domains = tuple(domain.name for domain in domains)
    app.state.db = db
    app.state.verifier = verifier
    app.state.relay = None
    app.state.cache = build_cache(settings)
    app.state.rate_limits = RateLimits(settings)
    app.state.stream_tickets = StreamTickets(
        settings.redis_url,
        settings.cache_prefix,
        settings.stream_ticket_seconds,
        settings.redis_timeout_seconds,
    )
    app.state.backlog_gauges = BacklogGauges(settings.metrics_backlog_seconds)
    app.state.event_options = EventOptions(
        source=settings.events_source, include_private=settings.events_include_private
    )
    install_error_handlers(app)
    idempotency.install(app)
    install(domains)
    hub_remote.install(app, settings)
    hub_privacy.install(app, settings)
    for domain in domains:
        if domain.configure is not None:
            domain.configure(app)
    domain_routers = tuple(router for domain in domains for router in domain.routers)
    platform_routers: tuple[APIRouter, ...] = (
        health_router,
        events_api.metrics_router,
        tickets.router,
        export.router,
        audit_api.router,
        erasure.router,
    )
    if not any(domain.owners is not None for domain in domains):
        platform_routers += (owners_api.router,)  # identity is served elsewhere
    for router in (*platform_routers, *domain_routers, hub_api.router, events_api.router):
        mount(app, router)
    for graphql in graphql_routers(graph_domains(domains, settings), domains, settings):
        mount(app, graphql)
    declare_access_rules(app)
    refuse_unknown_query_parameters(app)
    app.add_middleware(
        RequestPipeline,
        verifier=verifier,
        max_body_bytes=settings.max_body_bytes,
        max_auth_header_bytes=settings.max_auth_header_bytes,
        rate_limits=app.state.rate_limits,
        tickets=app.state.stream_tickets,
        fast_reads=FastReads(fast_reads()) if settings.fast_reads_enabled else None,
        body_limits=body_limits(),
        body_media_types=body_media_types(),
        state=app.state,
    )
    if settings.cors_origins:
        add_cors(app, settings.cors_origins)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def graph_domains(served: tuple[Domain, ...], settings: Settings) -> tuple[Domain, ...]:
    """The domains in this process's GraphQL schema: those it serves, and those the hub
    reaches elsewhere (``PROFILESTORE_HUB_DOMAINS``)."""
    names = {domain.name for domain in served}
    remote = set(settings.hub_domains)
    return tuple(
        d
        for d in DOMAINS
        if d.name in names or (d.graphql is not None and d.graphql.part in remote)
    )


@asynccontextmanager
async def in_process_relay(app: FastAPI, settings: Settings, db: Database) -> AsyncIterator[None]:
    """Run a relay inside this process unless turned off (leases make several relays safe)."""
    if not settings.runs_relay_in_process:
        log.warning(
            "no_relay_in_process",
            detail="PROFILESTORE_RELAY_IN_PROCESS=false: events stay in the outbox until a "
            "`profilestore relay` process runs.",
        )
        yield
        return
    relay = Relay(db, build_publisher(settings.events_url), relay_config(settings))
    app.state.relay = relay
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


@asynccontextmanager
async def invalidations(app: FastAPI) -> AsyncIterator[None]:
    """Listen on the invalidation channel while serving (only with a near and a shared tier)."""
    cache = app.state.cache
    if cache.near is None or cache.shared is None:
        yield
        return
    listener = InvalidationListener(cache)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.connected.wait(), timeout=2.0)
    except TimeoutError:
        log.warning("invalidation_channel_down", detail="serving without the near cache")
    try:
        yield
    finally:
        stop.set()
        await task


WRITE_METHODS = {"post", "put", "patch", "delete"}
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the first answer is replayed for 24 h (docs/api.md)",
    "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN},
}
CORS_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key"]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"]


def add_cors(app: FastAPI, origins: list[str]) -> None:
    """CORS for the listed origins, outside the request pipeline, so a preflight (which carries
    no token) is answered before authentication."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[*CORS_HEADERS, "X-Request-ID"],
        expose_headers=[*CORS_EXPOSED, "X-Request-ID", "Idempotent-Replayed"],
        max_age=600,
    )


def mount(app: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app as plain ``APIRoute``s (full paths already applied), so
    the route table stays inspectable: the access check and the tests walk it."""
    app.router.routes.extend(router.routes)


def route_access(route: APIRoute) -> Access | None:
    """The access rule a route depends on, if any."""
    rules = [dep.call for dep in route.dependant.dependencies if isinstance(dep.call, Access)]
    return rules[0] if len(rules) == 1 else None


def declare_access_rules(app: FastAPI) -> None:
    """Refuse to start if an API route states no access rule; document each rule in OpenAPI."""
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(API_PREFIX):
            continue
        rule = route_access(route)
        if rule is None:
            raise RuntimeError(f"route {route.path} declares no access rule (deny by default)")
        route.openapi_extra = {
            **(route.openapi_extra or {}),
            "x-access": rule.name,
            "security": [{"bearerAuth": []}],
        }
        route.description = f"{route.description or ''}\n\n**Access:** {rule.description}.".strip()


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    """Every error an operation can answer is documented, as problem+json: the ones its route
    names, plus those the platform gives any route of its kind (auth, body checks, 503)."""
    statuses: set[int] = set()
    if path.startswith("/v1/"):
        statuses |= {401, 503}
    if operation.get("parameters"):
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    responses = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(str(status), {})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response.update(problem_openapi(int(status)))


def _idempotent_writes(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of the writes that run in a unit of work, where Idempotency-Key holds."""
    found = set()
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(API_PREFIX):
            continue
        calls = {dependency.call for dependency in route.dependant.dependencies}
        if unit_of_work in calls:
            methods = {method.lower() for method in route.methods or ()}
            found |= {(route.path_format, method) for method in methods & WRITE_METHODS}
    return found


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        retryable = _idempotent_writes(app)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if (path, method) in retryable:
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
                _document_errors(path, operation)
        app.openapi_schema = schema
    return app.openapi_schema
