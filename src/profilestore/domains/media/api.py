"""REST routes of the media domain: viewer profiles and the watchlist."""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from profilestore.domains.media import cached, viewers, watchlist
from profilestore.domains.media.params import (
    DEFAULT,
    Cursor,
    Limit,
    Owner,
    VideoPath,
    ViewerParam,
    ViewerPath,
)
from profilestore.domains.media.schemas import (
    VIDEO_ID_PATTERN,
    Viewer,
    ViewerList,
    ViewerWrite,
    WatchlistAdd,
    WatchlistItem,
    WatchlistPage,
)
from profilestore.platform.conditional import json_response, not_modified, not_modified_response
from profilestore.platform.errors import invalid, problem_responses
from profilestore.platform.params import (
    MERGE_PATCH_OPENAPI,
    IfMatch,
    IfNoneMatch,
    MergePatch,
    Reader,
    UserId,
    Writer,
)
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["media"], route_class=UnitOfWorkRoute)
VIEWER = "/viewers/{viewer_id}"
MAX_ASKED = 100
"""Video ids one ``?video_id=`` question may name."""
_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)


def _viewer_response(viewer: dict[str, Any], *, status: int = 200) -> Response:
    return json_response(viewer, status=status, tag=viewers.viewer_tag(viewer))


@router.get(
    "/viewers",
    response_model=ViewerList,
    summary="The account's viewer profiles, its own (`default`) first",
    responses=problem_responses(401, 404),
)
async def list_viewers(request: Request, user_id: UserId, session: Reader, _: Owner) -> Response:
    items = await viewers.list_viewers(session, user_id)
    limit = request.app.state.settings.media_max_viewers
    return json_response({"items": items, "max_viewers": limit})


@router.post(
    "/viewers",
    response_model=Viewer,
    status_code=201,
    summary="Add a viewer profile (409 viewers-full past the account's limit)",
    responses=problem_responses(401, 404, 409, 413, 415, 422),
)
async def create_viewer(user_id: UserId, body: ViewerWrite, uow: Writer, _: Owner) -> Response:
    viewer = await viewers.create_viewer(uow.session, user_id, body)
    response = _viewer_response(viewer, status=201)
    response.headers["Location"] = f"/v1/profiles/{user_id}/viewers/{viewer['viewer_id']}"
    return response


@router.get(
    VIEWER,
    response_model=Viewer,
    summary="One viewer profile",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_viewer(
    user_id: UserId,
    viewer_id: ViewerPath,
    session: Reader,
    _: Owner,
    if_none_match: IfNoneMatch = None,
) -> Response:
    viewer = await viewers.get_viewer(session, user_id, viewer_id)
    tag = viewers.viewer_tag(viewer)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    return _viewer_response(viewer)


@router.patch(
    VIEWER,
    response_model=Viewer,
    summary="Change a viewer profile (JSON Merge Patch; `default` too)",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 404, 409, 412, 428, 413, 415, 422),
)
async def patch_viewer(
    user_id: UserId,
    viewer_id: ViewerPath,
    patch: MergePatch,
    uow: Writer,
    _: Owner,
    if_match: IfMatch = None,
) -> Response:
    viewer = await viewers.patch_viewer(uow.session, user_id, viewer_id, patch, if_match=if_match)
    return _viewer_response(viewer)


@router.delete(
    VIEWER,
    status_code=204,
    summary="Delete a viewer profile and its watchlist, history and ratings (not `default`)",
    responses=problem_responses(401, 404, 409, 412, 428),
)
async def delete_viewer(
    user_id: UserId, viewer_id: ViewerPath, uow: Writer, _: Owner, if_match: IfMatch = None
) -> Response:
    await viewers.delete_viewer(uow.session, user_id, viewer_id, if_match=if_match)
    return Response(status_code=204)


@router.get(
    "/watchlist",
    response_model=WatchlistPage,
    summary="The viewer's watchlist, newest first (or: which of ?video_id=a,b are on it)",
    responses=problem_responses(401, 404, 422),
)
async def get_watchlist(
    request: Request,
    user_id: UserId,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    cursor: Cursor = None,
    limit: Limit = 20,
    video_id: Annotated[
        str | None,
        Query(
            max_length=129 * MAX_ASKED,
            pattern=r"^[A-Za-z0-9._:,-]+$",
            description=f"Comma-separated video ids, at most {MAX_ASKED}",
        ),
    ] = None,
) -> Response:
    state = request.app.state
    if video_id is not None:
        asked = _video_ids(video_id)
        async with state.db.read_session() as session:
            items = await watchlist.find(session, user_id, viewer, asked)
        return json_response({"viewer_id": viewer, "items": items, "next_cursor": None})
    body, _hit = await watchlist_body(state, user_id, viewer, cursor=cursor, limit=limit)
    return Response(body, media_type="application/json")


async def watchlist_body(
    state: Any, user_id: uuid.UUID, viewer: str, *, cursor: str | None, limit: int
) -> tuple[bytes, bool]:
    """The encoded watchlist page (and whether the cache answered): the route's and the fast
    read's one source."""
    pager = partial(watchlist.page, user_id=user_id, viewer_id=viewer)
    first = partial(watchlist.first_page, state.db, user_id, viewer)
    key = cached.watchlist_key(user_id, viewer)
    return await cached.page_body(
        state,
        key,
        pager,
        first,
        viewer_id=viewer,
        cursor=cursor,
        limit=limit,
        when="added_at",
        tie="video_id",
    )


def _video_ids(text: str) -> list[str]:
    asked = list(dict.fromkeys(text.split(",")))
    if len(asked) > MAX_ASKED or not all(_VIDEO_ID.match(video) for video in asked):
        raise invalid(
            "query.video_id",
            f"1-{MAX_ASKED} comma-separated video ids of A-Za-z0-9._:- (1-128 each)",
            "video_ids",
        )
    return asked


@router.post(
    "/watchlist",
    response_model=WatchlistItem,
    status_code=201,
    summary="Add a video (201); already there: 200 with the item, unchanged",
    responses={200: {"model": WatchlistItem}, **problem_responses(401, 404, 409, 413, 415, 422)},
)
async def add_to_watchlist(
    user_id: UserId, body: WatchlistAdd, uow: Writer, _: Owner, viewer: ViewerParam = DEFAULT
) -> Response:
    item, added = await watchlist.add(uow.session, user_id, viewer, body)
    return json_response(item, status=201 if added else 200)


@router.delete(
    "/watchlist/{video_id}",
    status_code=204,
    summary="Remove a video (idempotent: 204 also when it was not there)",
    responses=problem_responses(401, 404, 422),
)
async def remove_from_watchlist(
    user_id: UserId, video_id: VideoPath, uow: Writer, _: Owner, viewer: ViewerParam = DEFAULT
) -> Response:
    await watchlist.remove(uow.session, user_id, viewer, video_id)
    return Response(status_code=204)
