"""REST routes of ratings and reviews: a viewer's own (private) and a video's (any signed-in
caller: the aggregate, and reviews with their authors' public profiles)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from profilestore.domains.media import ratings
from profilestore.domains.media.params import (
    DEFAULT,
    Cursor,
    Limit,
    Owner,
    VideoPath,
    ViewerParam,
)
from profilestore.domains.media.schemas import (
    Rating,
    RatingPage,
    RatingPost,
    RatingWrite,
    ReviewPage,
    VideoRatings,
)
from profilestore.platform.access import SignedIn
from profilestore.platform.conditional import json_response, not_modified, not_modified_response
from profilestore.platform.errors import not_found, problem_responses
from profilestore.platform.params import IfMatch, IfNoneMatch, Reader, UserId, Writer
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["media"], route_class=UnitOfWorkRoute)
RATING = "/profiles/{user_id}/ratings/{video_id}"
NOBODY = uuid.UUID(int=0)
"""The viewer a caller without a user id (a service) reads reviews as."""


def _rating_response(rating: dict[str, Any], *, status: int = 200) -> Response:
    return json_response(rating, status=status, tag=ratings.rating_tag(rating))


@router.put(
    RATING,
    response_model=Rating,
    summary="Rate a video: create (201) or replace (200); If-Match as for profiles",
    responses={201: {"model": Rating}, **problem_responses(401, 404, 412, 428, 413, 415, 422)},
)
async def put_rating(
    user_id: UserId,
    video_id: VideoPath,
    body: RatingWrite,
    uow: Writer,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    if_match: IfMatch = None,
) -> Response:
    rating, created = await ratings.put_rating(
        uow.session, user_id, viewer, video_id, body, if_match=if_match
    )
    return _rating_response(rating, status=201 if created else 200)


@router.post(
    "/profiles/{user_id}/ratings",
    response_model=Rating,
    summary="Rate a video named in the body (the same as PUT .../ratings/{video_id})",
    responses={201: {"model": Rating}, **problem_responses(401, 404, 412, 428, 413, 415, 422)},
)
async def post_rating(
    user_id: UserId,
    body: RatingPost,
    uow: Writer,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    if_match: IfMatch = None,
) -> Response:
    data = RatingWrite.model_validate(body.model_dump(exclude={"video_id"}))
    rating, created = await ratings.put_rating(
        uow.session, user_id, viewer, body.video_id, data, if_match=if_match
    )
    return _rating_response(rating, status=201 if created else 200)


@router.get(
    RATING,
    response_model=Rating,
    summary="The viewer's rating of a video",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_rating(
    user_id: UserId,
    video_id: VideoPath,
    session: Reader,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    if_none_match: IfNoneMatch = None,
) -> Response:
    rating = await ratings.get_rating(session, user_id, viewer, video_id)
    if rating is None:
        raise not_found("rating")
    tag = ratings.rating_tag(rating)
    assert tag is not None
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    return _rating_response(rating)


@router.delete(
    RATING,
    status_code=204,
    summary="Remove the viewer's rating (idempotent)",
    responses=problem_responses(401, 404, 412, 428, 422),
)
async def delete_rating(
    user_id: UserId,
    video_id: VideoPath,
    uow: Writer,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    if_match: IfMatch = None,
) -> Response:
    await ratings.delete_rating(uow.session, user_id, viewer, video_id, if_match=if_match)
    return Response(status_code=204)


@router.get(
    "/profiles/{user_id}/ratings",
    response_model=RatingPage,
    summary="The viewer's ratings, most recently changed first",
    responses=problem_responses(401, 404, 422),
)
async def list_ratings(
    user_id: UserId,
    session: Reader,
    _: Owner,
    viewer: ViewerParam = DEFAULT,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    items, next_cursor = await ratings.list_ratings(
        session, user_id, viewer, cursor=cursor, limit=limit
    )
    return json_response({"viewer_id": viewer, "items": items, "next_cursor": next_cursor})


@router.get(
    "/videos/{video_id}/ratings",
    response_model=VideoRatings,
    summary="A video's rating count, average and 1-5 distribution (kept incrementally)",
    responses=problem_responses(401, 422),
)
async def video_ratings(video_id: VideoPath, session: Reader, _: SignedIn) -> Response:
    return json_response(await ratings.video_ratings(session, video_id))


@router.get(
    "/videos/{video_id}/reviews",
    response_model=ReviewPage,
    summary="A video's reviews with their authors' public profiles, newest first",
    responses=problem_responses(401, 422),
)
async def video_reviews(
    video_id: VideoPath,
    session: Reader,
    caller: SignedIn,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Response:
    viewer = caller.user_id or NOBODY
    items, next_cursor = await ratings.reviews(
        session, video_id, viewer=viewer, cursor=cursor, limit=limit
    )
    return json_response({"items": items, "next_cursor": next_cursor})
