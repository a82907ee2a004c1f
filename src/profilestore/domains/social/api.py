"""REST routes of the social domain: contacts, blocks, and the block check for services."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from profilestore.domains.social import cached, service
from profilestore.domains.social.schemas import (
    Block,
    BlockCheck,
    BlockPage,
    BlockWrite,
    Contact,
    ContactPage,
    ContactWrite,
)
from profilestore.platform.access import (
    ADMIN_OR_SERVICE,
    PrivateRead,
    PrivateWrite,
)
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import (
    content_tag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.errors import not_found, problem_responses
from profilestore.platform.params import (
    MERGE_PATCH_OPENAPI,
    Cursor,
    IfMatch,
    IfNoneMatch,
    Limit,
    MergePatch,
    Reader,
    UnitOfWork,
    Writer,
)
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["social"], route_class=UnitOfWorkRoute)

CONTACT = "/profiles/{user_id}/contacts/{contact_user_id}"
BLOCK = "/profiles/{user_id}/blocks/{blocked_user_id}"


@router.put(
    CONTACT,
    response_model=Contact,
    summary="Add (201) or update (200) a contact",
    responses={
        201: {"model": Contact},
        **problem_responses(401, 404, 409, 412, 428, 413, 415, 422),
    },
)
async def put_contact(
    user_id: uuid.UUID,
    contact_user_id: uuid.UUID,
    uow: Writer,
    _: PrivateWrite,
    body: ContactWrite | None = None,
    if_match: IfMatch = None,
) -> Response:
    contact, created = await service.put_contact(
        uow.session, user_id, contact_user_id, body or ContactWrite(), if_match=if_match
    )
    return await _contact_response(uow, contact, status=201 if created else 200)


async def _contact_response(
    uow: UnitOfWork, contact: dict[str, Any], *, status: int = 200
) -> Response:
    (answer,) = await service.with_profiles(uow.session, [contact])
    return json_response(answer, status=status, tag=content_tag(answer))


@router.get(
    CONTACT,
    response_model=Contact,
    summary="One contact, with the contact's public profile",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_contact(
    user_id: uuid.UUID,
    contact_user_id: uuid.UUID,
    session: Reader,
    _: PrivateRead,
    if_none_match: IfNoneMatch = None,
) -> Response:
    contact = await service.get_contact(session, user_id, contact_user_id)
    if contact is None:
        raise not_found("contact")
    tag = content_tag(contact)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    return json_response(contact, tag=tag)


@router.patch(
    CONTACT,
    response_model=Contact,
    summary="Update a contact with a JSON Merge Patch",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 404, 412, 428, 413, 415, 422),
)
async def patch_contact(
    user_id: uuid.UUID,
    contact_user_id: uuid.UUID,
    patch: MergePatch,
    uow: Writer,
    _: PrivateWrite,
    if_match: IfMatch = None,
) -> Response:
    contact = await service.patch_contact(
        uow.session, user_id, contact_user_id, patch, if_match=if_match
    )
    return await _contact_response(uow, contact)


@router.delete(
    CONTACT,
    status_code=204,
    summary="Remove a contact (idempotent)",
    responses=problem_responses(401, 404, 412, 428),
)
async def delete_contact(
    user_id: uuid.UUID,
    contact_user_id: uuid.UUID,
    uow: Writer,
    _: PrivateWrite,
    if_match: IfMatch = None,
) -> Response:
    await service.delete_contact(uow.session, user_id, contact_user_id, if_match=if_match)
    return Response(status_code=204)


@router.get(
    "/profiles/{user_id}/contacts",
    response_model=ContactPage,
    summary="The user's contacts, each with its public profile, by cursor",
    responses=problem_responses(401, 404, 422),
)
async def list_contacts(
    user_id: uuid.UUID,
    session: Reader,
    _: PrivateRead,
    cursor: Cursor = None,
    limit: Limit = 50,
    favorite: Annotated[bool | None, Query(description="Only favorites (true) or others")] = None,
) -> Response:
    items, next_cursor = await service.list_contacts(
        session, user_id, cursor=cursor, limit=limit, favorite=favorite
    )
    return json_response({"items": items, "next_cursor": next_cursor})


@router.put(
    BLOCK,
    response_model=Block,
    summary="Block a user, with or without a profile (also removes them from your contacts)",
    responses={201: {"model": Block}, **problem_responses(401, 404, 413, 415, 422, 503)},
)
async def put_block(
    user_id: uuid.UUID,
    blocked_user_id: uuid.UUID,
    uow: Writer,
    _: PrivateWrite,
    body: BlockWrite | None = None,
) -> Response:
    block, created = await service.put_block(
        uow.session, user_id, blocked_user_id, body or BlockWrite()
    )
    return json_response(block, status=201 if created else 200)


@router.delete(
    BLOCK,
    status_code=204,
    summary="Unblock a user (idempotent)",
    responses=problem_responses(401, 404, 503),
)
async def delete_block(
    user_id: uuid.UUID, blocked_user_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    await service.delete_block(uow.session, user_id, blocked_user_id)
    return Response(status_code=204)


@router.get(
    "/profiles/{user_id}/blocks",
    response_model=BlockPage,
    summary="The users this user blocks, by cursor",
    responses=problem_responses(401, 404, 422),
)
async def list_blocks(
    user_id: uuid.UUID, session: Reader, _: PrivateRead, cursor: Cursor = None, limit: Limit = 50
) -> Response:
    items, next_cursor = await service.list_blocks(session, user_id, cursor=cursor, limit=limit)
    return json_response({"items": items, "next_cursor": next_cursor})


@router.get(
    "/blocks/check",
    response_model=BlockCheck,
    summary="Does either user block the other? (services; cached, one indexed look-up)",
    responses=problem_responses(401, 403, 422),
)
async def check_block(
    request: Request,
    a: uuid.UUID,
    b: uuid.UUID,
    _: Annotated[Principal, Depends(ADMIN_OR_SERVICE)],
) -> Response:
    state = request.app.state
    a_blocks_b, b_blocks_a = await cached.check(state.db, state.cache, a, b)
    body = {
        "a": a,
        "b": b,
        "blocked": a_blocks_b or b_blocks_a,
        "a_blocks_b": a_blocks_b,
        "b_blocks_a": b_blocks_a,
    }
    return json_response(body)
