"""REST routes of the owner's side of follow requests (a private account's): the pending
requests (private), accepting one, declining one, and removing a follower."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from profilestore.domains.social import follow_requests
from profilestore.domains.social.follow_schemas import Follow, FollowRequestPage
from profilestore.platform.access import PrivateRead, PrivateWrite
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import problem_responses
from profilestore.platform.params import Cursor, Limit, Reader, Writer
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["social"], route_class=UnitOfWorkRoute)

REQUESTS = "/profiles/{user_id}/follow-requests"
FOLLOWER = "/profiles/{user_id}/followers/{follower_user_id}"


@router.get(
    REQUESTS,
    response_model=FollowRequestPage,
    summary="Who asks to follow the user, each with their public profile, by cursor (private)",
    responses=problem_responses(401, 404, 422),
)
async def list_follow_requests(
    user_id: uuid.UUID, session: Reader, _: PrivateRead, cursor: Cursor = None, limit: Limit = 50
) -> Response:
    page = await follow_requests.list_requests(session, user_id, cursor=cursor, limit=limit)
    return json_response(page)


@router.put(
    FOLLOWER,
    response_model=Follow,
    summary="Accept a request to follow the user (201; 200 if they already follow; 404 "
    "without a request)",
    responses={201: {"model": Follow}, **problem_responses(401, 404, 409, 422)},
)
async def accept_follow_request(
    user_id: uuid.UUID, follower_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    answer, created = await follow_requests.accept(uow.session, user_id, follower_user_id)
    return json_response(answer, status=201 if created else 200)


@router.delete(
    REQUESTS + "/{requester_user_id}",
    status_code=204,
    summary="Decline a request to follow the user (idempotent)",
    responses=problem_responses(401, 404, 422),
)
async def decline_follow_request(
    user_id: uuid.UUID, requester_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    await follow_requests.decline(uow.session, user_id, requester_user_id)
    return Response(status_code=204)


@router.delete(
    FOLLOWER,
    status_code=204,
    summary="Remove a follower of the user (idempotent)",
    responses=problem_responses(401, 404, 422),
)
async def remove_follower(
    user_id: uuid.UUID, follower_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    await follow_requests.remove_follower(uow.session, user_id, follower_user_id)
    return Response(status_code=204)
