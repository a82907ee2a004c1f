"""Structured JSON logs, and the health endpoints."""

from __future__ import annotations

import asyncio
import logging
import sys

import orjson
import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from profilestore.platform.errors import ProblemError, problem_response


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout, one per event; cached loggers keep the per-request cost low."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )


health_router = APIRouter(tags=["health"])


@health_router.get("/health", summary="Process is alive (touches nothing)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get(
    "/health/ready",
    summary="Ready to serve: the database (and Redis, when configured) answers",
    responses={503: {"description": "A dependency is unreachable"}},
)
async def ready(request: Request) -> Response:
    checks = {"database": request.app.state.db.ping, "cache": request.app.state.cache.ping}
    status: dict[str, str] = {}
    for name, ping in checks.items():
        try:
            await asyncio.wait_for(ping(), timeout=2.0)
        except Exception:
            status[name] = "unreachable"
        else:
            status[name] = "ok"
    if any(value != "ok" for value in status.values()):
        down = ", ".join(name for name, value in status.items() if value != "ok")
        return problem_response(request, ProblemError(503, "not-ready", f"Unreachable: {down}."))
    return Response(orjson.dumps({"status": "ready", **status}), media_type="application/json")
