"""REST routes of presence: heartbeats per device, one user's presence, many users' at once."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import bindparam, select
from starlette.responses import Response

from profilestore.domains.profiles import cached, presence
from profilestore.domains.profiles.api import hidden, parse_ids, reaches
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.schemas import Presence, PresenceList, PresenceWrite
from profilestore.platform.access import OWNER_OR_ADMIN, SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import not_found, problem_responses
from profilestore.platform.params import UserId, Writer
from profilestore.platform.reads import PreparedRead
from profilestore.platform.uow import UnitOfWork, UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["presence"], route_class=UnitOfWorkRoute)
MAX_IDS = 500
_LAST_SEEN = PreparedRead(
    select(Profile.user_id, Profile.last_seen).where(
        Profile.user_id.in_(bindparam("user_ids", expanding=True))
    )
)


@router.put(
    "/profiles/{user_id}/presence",
    response_model=Presence,
    summary="Heartbeat of one device: its status, kept for PROFILESTORE_PRESENCE_TTL_SECONDS",
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
)
async def put_presence(
    request: Request,
    user_id: UserId,
    body: PresenceWrite,
    uow: Writer,
    _: Annotated[Principal, Depends(OWNER_OR_ADMIN)],
) -> Response:
    state = request.app.state
    entry, _hit = await cached.read_profile(state.db, state.cache, user_id)
    if entry is None:
        raise not_found("profile")
    store, hub = state.presence, state.presence_transitions

    def transition(previous: str, status: str) -> None:
        async def announce(_: UnitOfWork) -> None:
            await hub.publish(user_id, status)

        async def take_back(_: UnitOfWork) -> None:
            await store.unannounce(user_id, status, previous, None)

        uow.after_commit(announce)
        uow.on_failure(take_back)

    answer = await presence.heartbeat(
        uow.session, store, state.settings, user_id, body, on_transition=transition
    )
    return json_response(answer)


@router.get(
    "/profiles/{user_id}/presence",
    response_model=Presence,
    summary="A user's presence: status and last_seen as the owner's audiences allow (devices "
    "only for the owner, admins and services)",
    responses=problem_responses(401, 404, 422, 503),
)
async def get_presence(
    request: Request, user_id: UserId, principal: Annotated[Principal, Depends(SIGNED_IN)]
) -> Response:
    items = await presence_of(request, principal, [user_id])
    if not items:
        raise not_found("profile")
    return json_response(items[0])


@router.get(
    "/presence",
    response_model=PresenceList,
    summary=f"Presence of many users at once (up to {MAX_IDS}, e.g. a chat list)",
    responses=problem_responses(401, 422, 503),
)
async def list_presence(
    request: Request,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    ids: Annotated[str, Query(description=f"Comma-separated user ids (at most {MAX_IDS})")],
) -> Response:
    user_ids = list(dict.fromkeys(parse_ids(ids, MAX_IDS)))
    return json_response({"items": await presence_of(request, principal, user_ids)})


async def presence_of(
    request: Request, principal: Principal, user_ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    """Presence of the users among ``user_ids`` who have a profile the caller may see."""
    state = request.app.state
    entries = await cached.read_profiles(state.db, state.cache, user_ids)
    hide = await hidden(state, principal, list(entries))
    shown = [user_id for user_id in user_ids if user_id in entries and user_id not in hide]
    reach = await reaches(state, principal, shown)
    visible = [u for u in shown if cached.shows(entries[u], "status", reach[u])]
    live = await presence.live_states(state.presence, visible)
    private = {u for u in visible if cached.shows(entries[u], "last_seen", reach[u])}
    unknown = [u for u in private if presence.needs_durable_last_seen(live.get(u))]
    rows = await _LAST_SEEN.all(state.db, user_ids=unknown) if unknown else []
    durable = {row["user_id"]: row["last_seen"] for row in rows}
    items = []
    for user_id in visible:
        item = presence.presence_item(user_id, live.get(user_id), durable.get(user_id))
        if reach[user_id] != "full":
            shown_item = {"user_id": user_id, "status": item["status"]}
            item = shown_item | ({"last_seen": item["last_seen"]} if user_id in private else {})
        items.append(item)
    return items
