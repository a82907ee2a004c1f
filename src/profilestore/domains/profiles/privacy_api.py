"""REST routes of the owner's privacy settings: who sees each field, and the private account
switch (owner and admins write; services read too)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import Response

from profilestore.domains.profiles import privacy, service
from profilestore.domains.profiles.audiences import Audience
from profilestore.platform.access import PrivateRead, PrivateWrite
from profilestore.platform.conditional import (
    etag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.errors import not_found, problem_responses
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

router = APIRouter(prefix="/v1", tags=["profiles"], route_class=UnitOfWorkRoute)
PATH = "/profiles/{user_id}/privacy"


class Privacy(BaseModel):
    user_id: uuid.UUID
    private_account: bool = Field(
        description="Only your contacts see more than your username and avatar"
    )
    fields: dict[str, Audience] = Field(
        description="Every field's audience: public (every signed-in user), contacts (the "
        "people you added as a contact) or private (you only)"
    )
    overridden: list[str] = Field(description="The fields whose audience you set")
    version: int = Field(description="The profile's version (the ETag)")


def _answer(profile: dict[str, Any]) -> Response:
    return json_response(privacy.settings(profile), tag=etag(profile["version"]))


@router.get(
    PATH,
    response_model=Privacy,
    summary="Who sees each field of the profile, and whether the account is private",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_privacy(
    user_id: UserId, session: Reader, _: PrivateRead, if_none_match: IfNoneMatch = None
) -> Response:
    profile = await service.PROFILES.get(session, user_id)
    if profile is None:
        raise not_found("profile")
    if not_modified(if_none_match, etag(profile["version"])):
        return not_modified_response(etag(profile["version"]))
    return _answer(profile)


@router.patch(
    PATH,
    response_model=Privacy,
    summary='Change who sees which field (JSON Merge Patch: {"bio": "contacts"}, null for '
    "the default) and the private account switch",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 403, 404, 412, 413, 415, 422, 428),
)
async def patch_privacy(
    user_id: UserId, patch: MergePatch, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    profile = await privacy.update(uow.session, user_id, patch, if_match=if_match)
    return _answer(profile)
