"""``GET /v1/presence/stream``: the caller's contacts' presence, live (server-sent events).

First a ``snapshot`` event (every contact's presence), then a ``presence`` event per status
transition of a contact; a contact who blocks the caller is left out, and a contact added or
removed meanwhile is picked up within ``REFRESH_SECONDS``. Browsers authenticate with a
single-use ticket (``POST /v1/stream-tickets``, then ``?ticket=``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import bindparam, select
from starlette.responses import StreamingResponse

from profilestore.domains.profiles import public as profiles
from profilestore.domains.social.models import Contact
from profilestore.platform.access import SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.errors import ProblemError, problem_responses
from profilestore.platform.jsonutil import dumps
from profilestore.platform.reads import PreparedRead
from profilestore.platform.tickets import TICKET_PARAMETER
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["presence"], route_class=UnitOfWorkRoute)
HEARTBEAT_SECONDS = 15.0
REFRESH_SECONDS = 10.0
MAX_CONTACTS = 5000
_CONTACTS = PreparedRead(
    select(Contact.contact_user_id).where(Contact.user_id == bindparam("owner")).limit(MAX_CONTACTS)
)


@router.get(
    "/presence/stream",
    summary="Live presence of the caller's contacts (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(401, 403, 422)},
)
async def presence_stream(
    request: Request,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    max_seconds: Annotated[float, Query(gt=0, le=3600, description="Close after this long")] = 300,
    ticket: Annotated[
        str | None,
        Query(
            alias=TICKET_PARAMETER,
            max_length=128,
            description="A single-use ticket from POST /v1/stream-tickets, instead of the "
            "Authorization header (for EventSource)",
        ),
    ] = None,
) -> StreamingResponse:
    if principal.user_id is None:
        raise ProblemError(403, "forbidden", "Only a user has contacts to follow.")
    return StreamingResponse(
        _events(request, principal, principal.user_id, max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: ".encode() + dumps(data) + b"\n\n"


async def _events(
    request: Request, principal: Principal, viewer: uuid.UUID, max_seconds: float
) -> AsyncIterator[bytes]:
    state = request.app.state
    hub: profiles.TransitionHub = state.presence_transitions
    deadline = time.monotonic() + max_seconds
    async with hub.subscribe() as queue:
        contacts = await _contacts(state, viewer)
        refreshed = time.monotonic()
        yield b"retry: 1000\n\n"
        yield _event("snapshot", await profiles.presence_of(request, principal, sorted(contacts)))
        while time.monotonic() < deadline and not await request.is_disconnected():
            wait = min(HEARTBEAT_SECONDS, REFRESH_SECONDS, deadline - time.monotonic())
            try:
                item = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.01))
            except TimeoutError:
                yield b": keep-alive\n\n"
                item = None
            if time.monotonic() - refreshed > REFRESH_SECONDS:
                contacts, refreshed = await _contacts(state, viewer), time.monotonic()
            if item is profiles.RESYNC:
                snapshot = await profiles.presence_of(request, principal, sorted(contacts))
                yield _event("snapshot", snapshot)
            elif item is not None and await _visible(request, principal, contacts, item):
                yield _event("presence", item)


async def _contacts(state: Any, viewer: uuid.UUID) -> set[uuid.UUID]:
    rows = await _CONTACTS.all(state.db, owner=viewer)
    return {row["contact_user_id"] for row in rows}


async def _visible(
    request: Request, principal: Principal, contacts: set[uuid.UUID], item: dict[str, Any]
) -> bool:
    """A contact's transition is sent when the caller may see the contact's presence (not
    blocked by them, and their status's audience includes the caller)."""
    user_id = uuid.UUID(item["user_id"])
    if user_id not in contacts:
        return False
    return bool(await profiles.presence_of(request, principal, [user_id]))
