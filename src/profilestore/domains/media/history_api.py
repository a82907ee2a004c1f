"""REST routes of viewing history, resume points and continue watching."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from profilestore.domains.media import cached, history
from profilestore.domains.media.params import DEFAULT, Cursor, Limit, Owner, VideoPath, ViewerParam
from profilestore.domains.media.schemas import (
    Beat,
    BeatAnswer,
    ContinueWatchingPage,
    HistoryPage,
    ResumePoint,
)
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import invalid, not_found, problem_responses
from profilestore.platform.params import Reader, UserId, Writer
from profilestore.platform.types import BoundedDatetime
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["media"], route_class=UnitOfWorkRoute)
Since = Annotated[BoundedDatetime | None, Query(alias="from", description="Watched at or after")]
Until = Annotated[BoundedDatetime | None, Query(alias="to", description="Watched before")]


@router.post(
    "/history",
    response_model=BeatAnswer,
    summary="A player's beat: moves the resume point, writes the history (cheap; every few s)",
    responses=problem_responses(401, 404, 413, 415, 422),
)
async def post_beat(
    user_id: UserId, body: Beat, uow: Writer, _: Owner, viewer: ViewerParam = DEFAULT
) -> Response:
    return json_response(await history.beat(uow.session, user_id, viewer, body))


@router.get(
    "/history",
    response_model=HistoryPage,
    summary="Viewing history, newest first",
    responses=problem_responses(401, 404, 422),
)
async def get_history(
    user_id: UserId,
    session: Reader,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    if since is not None and until is not None and since >= until:
        raise invalid("query.from", "must be before `to`", "range")
    items, next_cursor = await history.history(
        session, user_id, viewer, since=since, until=until, cursor=cursor, limit=limit
    )
    return json_response({"viewer_id": viewer, "items": items, "next_cursor": next_cursor})


@router.delete(
    "/history/{entry_id}",
    status_code=204,
    summary="Remove one history entry (idempotent; the resume point stays)",
    responses=problem_responses(401, 404, 422),
)
async def delete_history_entry(
    user_id: UserId, entry_id: uuid.UUID, uow: Writer, _: Owner, viewer: ViewerParam = DEFAULT
) -> Response:
    await history.delete_entry(uow.session, user_id, viewer, entry_id)
    return Response(status_code=204)


@router.delete(
    "/history",
    status_code=204,
    summary="Clear the viewer's history and resume points",
    responses=problem_responses(401, 404, 422),
)
async def clear_history(
    user_id: UserId, uow: Writer, _: Owner, viewer: ViewerParam = DEFAULT
) -> Response:
    await history.clear(uow.session, user_id, viewer)
    return Response(status_code=204)


@router.get(
    "/continue-watching",
    response_model=ContinueWatchingPage,
    summary="Started, not finished, not dismissed: most recently watched first (cached)",
    responses=problem_responses(401, 404, 422),
)
async def continue_watching(
    request: Request,
    user_id: UserId,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    state = request.app.state
    body, _hit = await continue_watching_body(state, user_id, viewer, cursor=cursor, limit=limit)
    return Response(body, media_type="application/json")


async def continue_watching_body(
    state: Any, user_id: uuid.UUID, viewer: str, *, cursor: str | None, limit: int
) -> tuple[bytes, bool]:
    """The encoded continue-watching page (and whether the cache answered): the route's and
    the fast read's one source."""
    pager = partial(history.continue_watching, user_id=user_id, viewer_id=viewer)
    first = partial(history.continue_watching_first, state.db, user_id, viewer)
    key = cached.continue_key(user_id, viewer)
    return await cached.page_body(
        state,
        key,
        pager,
        first,
        viewer_id=viewer,
        cursor=cursor,
        limit=limit,
        when="watched_at",
        tie="video_id",
    )


@router.delete(
    "/continue-watching/{video_id}",
    status_code=204,
    summary="Dismiss a video from continue watching; its resume point is kept",
    responses=problem_responses(401, 404, 422),
)
async def dismiss(
    user_id: UserId, video_id: VideoPath, uow: Writer, _: Owner, viewer: ViewerParam = DEFAULT
) -> Response:
    await history.dismiss(uow.session, user_id, viewer, video_id)
    return Response(status_code=204)


@router.get(
    "/resume/{video_id}",
    response_model=ResumePoint,
    summary="Where the viewer is in a video (the player's first call; cached)",
    responses=problem_responses(401, 404, 422),
)
async def get_resume_point(
    request: Request,
    user_id: UserId,
    video_id: VideoPath,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
) -> Response:
    body, _hit = await resume_body(request.app.state, user_id, viewer, video_id)
    if body is None:
        raise not_found("resume point")
    return Response(body, media_type="application/json")


async def resume_body(
    state: Any, user_id: uuid.UUID, viewer: str, video_id: str
) -> tuple[bytes | None, bool]:
    """The encoded resume point (None: none), and whether the cache answered."""

    async def load() -> dict[str, Any] | None:
        async with state.db.read_session() as session:
            return await history.resume_point(session, user_id, viewer, video_id)

    return await cached.resume_body(state, cached.resume_key(user_id, viewer, video_id), load)
