"""REST routes of follows and mutes. Following lists are public to signed-in callers (as on
most social apps; a private account's to its followers), seen through the caller's blocks and
mutes; mutes are private. The owner's side of follow requests: ``follow_requests_api``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from profilestore.domains.social import follows, mutes
from profilestore.domains.social.follow_schemas import Follow, FollowPage, Mute, MutePage
from profilestore.platform.access import PrivateRead, PrivateWrite, SignedIn
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import problem_responses
from profilestore.platform.params import Cursor, Limit, Reader, Writer
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["social"], route_class=UnitOfWorkRoute)

FOLLOWING = "/profiles/{user_id}/following/{followed_user_id}"
MUTE = "/profiles/{user_id}/mutes/{muted_user_id}"


@router.put(
    FOLLOWING,
    response_model=Follow,
    summary="Follow a user (201; 200 if already followed); a private account's owner is asked "
    '(202, state "requested", until they accept)',
    responses={
        201: {"model": Follow},
        202: {"model": Follow, "description": "Requested: the account is private"},
        **problem_responses(401, 404, 409, 422),
    },
)
async def follow(
    user_id: uuid.UUID, followed_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    answer, created = await follows.follow(uow.session, user_id, followed_user_id)
    if answer["state"] == follows.REQUESTED:
        return json_response(answer, status=202)
    return json_response(answer, status=201 if created else 200)


@router.delete(
    FOLLOWING,
    status_code=204,
    summary="Unfollow a user, or withdraw a request to follow them (idempotent)",
    responses=problem_responses(401, 404, 422),
)
async def unfollow(
    user_id: uuid.UUID, followed_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    await follows.unfollow(uow.session, user_id, followed_user_id)
    return Response(status_code=204)


@dataclass(frozen=True)
class FollowListQuery:
    """What a followers or following list is read with: the owner and the page asked for."""

    user_id: uuid.UUID
    session: AsyncSession
    cursor: str | None
    limit: int

    async def page(
        self, direction: Literal["followers", "following"], principal: Principal
    ) -> Response:
        """The page, filtered by the caller's blocks and mutes (a service's or an admin's
        without a user id: the owner's)."""
        viewer = principal.user_id or self.user_id
        page = await follows.follow_list(
            self.session,
            self.user_id,
            direction=direction,
            viewer=viewer,
            privileged=principal.is_admin or principal.is_service,
            cursor=self.cursor,
            limit=self.limit,
        )
        return json_response(page)


async def follow_list_query(
    user_id: uuid.UUID, session: Reader, cursor: Cursor = None, limit: Limit = 50
) -> FollowListQuery:
    """The query of a list route (a coroutine: a class as a dependency would be built in a
    worker thread)."""
    return FollowListQuery(user_id, session, cursor, limit)


FollowList = Annotated[FollowListQuery, Depends(follow_list_query)]


@router.get(
    "/profiles/{user_id}/followers",
    response_model=FollowPage,
    summary="Who follows the user, each with their public profile, by cursor; with the counts",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_followers(query: FollowList, principal: SignedIn) -> Response:
    return await query.page("followers", principal)


@router.get(
    "/profiles/{user_id}/following",
    response_model=FollowPage,
    summary="Whom the user follows, each with their public profile, by cursor; with the counts",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_following(query: FollowList, principal: SignedIn) -> Response:
    return await query.page("following", principal)


@router.put(
    MUTE,
    response_model=Mute,
    summary="Mute a user, with or without a profile (201; 200 if already muted)",
    responses={201: {"model": Mute}, **problem_responses(401, 404, 422)},
)
async def mute(
    user_id: uuid.UUID, muted_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    answer, created = await mutes.mute(uow.session, user_id, muted_user_id)
    return json_response(answer, status=201 if created else 200)


@router.delete(
    MUTE,
    status_code=204,
    summary="Unmute a user (idempotent)",
    responses=problem_responses(401, 404, 422),
)
async def unmute(
    user_id: uuid.UUID, muted_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    await mutes.unmute(uow.session, user_id, muted_user_id)
    return Response(status_code=204)


@router.get(
    "/profiles/{user_id}/mutes",
    response_model=MutePage,
    summary="The users this user mutes, by cursor (private)",
    responses=problem_responses(401, 404, 422),
)
async def list_mutes(
    user_id: uuid.UUID, session: Reader, _: PrivateRead, cursor: Cursor = None, limit: Limit = 50
) -> Response:
    return json_response(await mutes.list_mutes(session, user_id, cursor=cursor, limit=limit))
