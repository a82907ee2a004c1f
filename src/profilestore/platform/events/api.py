"""The events feed (no broker needed): a cursor-paged JSON feed and a resumable server-sent
events stream over published outbox rows, in publish order. Plus ``/metrics``."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from profilestore.platform.access import ADMIN_OR_SERVICE, unauthorized
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.db import Database, read_session
from profilestore.platform.errors import ProblemError, invalid, problem_responses
from profilestore.platform.events.outbox import OutboxRow
from profilestore.platform.jsonutil import dumps
from profilestore.platform.types import INT64_MAX, parse_int64

router = APIRouter(prefix="/v1/events", tags=["events"])
metrics_router = APIRouter(tags=["health"])

Reader = Annotated[AsyncSession, Depends(read_session)]
Caller = Annotated[Principal, Depends(ADMIN_OR_SERVICE)]
After = Annotated[
    int | None, Query(ge=0, le=INT64_MAX, description="Cursor: the last `seq` you processed")
]
HEARTBEAT_SECONDS = 15.0


class FeedItem(BaseModel):
    seq: int
    event: dict[str, Any]


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_after: int


async def page(session: AsyncSession, after: int | None, limit: int) -> list[FeedItem]:
    """Published events after the cursor; 410 if events after it were already pruned, 409 if
    the cursor is past the newest event (a consumer would silently skip what comes next)."""
    if after is not None and after > 0:
        bounds = select(func.min(OutboxRow.published_seq), func.max(OutboxRow.published_seq))
        oldest, newest = (await session.execute(bounds)).one()
        if newest is None or after > newest:
            raise ProblemError(
                409,
                "cursor-ahead",
                f"The cursor is past the newest event ({newest or 0}): this feed was restored "
                "or reset. Resync, then restart from after=0 or from the newest seq.",
            )
        if oldest is not None and oldest > after + 1:
            raise ProblemError(
                410, "cursor-expired", "Events after this cursor were pruned; resync and restart."
            )
    statement = (
        select(OutboxRow.published_seq, OutboxRow.payload)
        .where(OutboxRow.published_seq > (after or 0))
        .order_by(OutboxRow.published_seq)
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    return [FeedItem(seq=seq, event=payload) for seq, payload in rows]


@router.get(
    "",
    response_model=FeedPage,
    summary="Published events after a cursor, in publish order (at least once; dedupe on id)",
    responses=problem_responses(401, 403, 409, 410, 422),
)
async def feed(
    session: Reader,
    _: Caller,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    items = await page(session, after, limit)
    next_after = items[-1].seq if items else (after or 0)
    return json_response({"items": [i.model_dump() for i in items], "next_after": next_after})


@router.get(
    "/stream",
    summary="Server-sent events; resume with Last-Event-ID (or ?after=) to miss nothing",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **problem_responses(401, 403, 409, 410, 422),
    },
)
async def stream(
    request: Request,
    _: Caller,
    after: After = None,
    last_event_id: Annotated[str | None, Header()] = None,
    max_seconds: Annotated[float, Query(gt=0, le=3600, description="Close after this long")] = 300,
    ticket: Annotated[
        str | None,
        Query(max_length=128, description="A single-use ticket (POST /v1/stream-tickets)"),
    ] = None,
) -> StreamingResponse:
    cursor = _resume_cursor(last_event_id, after)
    db: Database = request.app.state.db
    async with db.read_session() as session:
        await page(session, cursor, 1)  # 410 now, not mid-stream
    return StreamingResponse(
        _events(request, db, cursor, max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _resume_cursor(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is None:
        return after or 0
    seq = parse_int64(last_event_id.strip())
    if seq is None or seq < 0:
        raise invalid("header.last-event-id", "must be a seq: ASCII digits, at most 2^63-1", "int")
    return seq


async def _events(
    request: Request, db: Database, cursor: int, max_seconds: float
) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + max_seconds
    last_sent = time.monotonic()
    yield b"retry: 1000\n\n"
    while time.monotonic() < deadline and not await request.is_disconnected():
        async with db.read_session() as session:
            items = await page(session, cursor, 500)
        for item in items:
            cursor = item.seq
            yield (
                f"id: {item.seq}\nevent: {item.event['type']}\ndata: ".encode()
                + dumps(item.event)
                + b"\n\n"
            )
            last_sent = time.monotonic()
        if items:
            continue
        if time.monotonic() - last_sent > HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        await _wait_for_publish(request, min(0.5, max(0.0, deadline - time.monotonic())))


async def _wait_for_publish(request: Request, seconds: float) -> None:
    relay = getattr(request.app.state, "relay", None)
    if relay is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(relay.published_signal.wait(), timeout=seconds)
    except TimeoutError:
        return


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics (behind PROFILESTORE_METRICS_TOKEN when set)",
    response_class=Response,
    responses=problem_responses(401),
)
async def prometheus_metrics(request: Request) -> Response:
    settings = request.app.state.settings
    if settings.metrics_token is not None:
        given = request.headers.get("authorization", "").encode()
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        if not hmac.compare_digest(given, expected):
            raise unauthorized("/metrics needs the metrics token.")
    await request.app.state.backlog_gauges.refresh(request.app.state.db)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
