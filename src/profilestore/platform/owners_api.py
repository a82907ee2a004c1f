"""``/v1/owners/{user_id}``: the platform's owner directory over HTTP, served only by a process
without the profiles domain (``profilestore serve --domains nutrition``, say). Identity lives
elsewhere, so the hub (or any service with the role) tells this process what it needs of the
user: their timezone (``PUT``; a change runs every installed domain's ``profile_changed``
hook, so nutrition rebuckets its rollups) and their erasure (``DELETE``: every installed
domain's ``user_deleted``, as a profile deletion does in one process). Admins and services
only."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from profilestore.platform import registry
from profilestore.platform.access import AdminOrService
from profilestore.platform.conditional import (
    check_if_match,
    etag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.db import utcnow
from profilestore.platform.errors import not_found, problem_responses
from profilestore.platform.owners import Owner, locked_owner
from profilestore.platform.params import IfMatch, IfNoneMatch, Reader, UserId, Writer
from profilestore.platform.schemas import WriteModel
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/owners/{user_id}", tags=["owners"], route_class=UnitOfWorkRoute)

TIMEZONES = frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str:
    if value not in TIMEZONES:
        raise ValueError("not an IANA time zone name (e.g. Europe/Berlin)")
    return value


TimezoneName = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_check_timezone),
    Field(examples=["Europe/Paris"], description="An IANA time zone name"),
]


class OwnerWrite(WriteModel):
    """What this process keeps of a user whose identity is served elsewhere."""

    timezone: TimezoneName | None = Field(
        description="The user's timezone (identity's profile timezone); null: UTC"
    )


class OwnerView(BaseModel):
    user_id: uuid.UUID
    timezone: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


def owner_view(row: Owner) -> dict[str, Any]:
    return {
        "user_id": str(row.user_id),
        "timezone": row.timezone,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
    }


async def _locked(session: AsyncSession, user_id: uuid.UUID) -> Owner | None:
    statement = select(Owner).where(Owner.user_id == user_id).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def set_timezone(
    session: AsyncSession, user_id: uuid.UUID, timezone: str | None, *, if_match: str | None
) -> tuple[Owner, bool]:
    """Set the user's timezone (making their owner row if missing); a change runs the
    installed domains' ``profile_changed`` hooks in this transaction. (row, created)."""
    row = await _locked(session, user_id)
    check_if_match(session, if_match, row.version if row else None)
    created = row is None
    if row is None:
        row = await locked_owner(session, user_id)
    if row.timezone == timezone:
        return row, created
    row.timezone = timezone
    row.updated_at = utcnow()
    if not created:
        row.version += 1
    await session.flush()
    await registry.profile_changed(
        session, {"user_id": user_id, "timezone": timezone}, ["timezone"]
    )
    return row, created


async def forget(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove every row of the user in every installed domain, and the owner row."""
    await _locked(session, user_id)
    await registry.user_deleted(session, user_id)
    await session.execute(delete(Owner).where(Owner.user_id == user_id))


@router.get(
    "",
    response_model=OwnerView,
    summary="What this service keeps of a user whose identity is served elsewhere",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 403, 404, 422)},
)
async def get_owner(
    user_id: UserId, session: Reader, _: AdminOrService, if_none_match: IfNoneMatch = None
) -> Response:
    row = await session.get(Owner, user_id)
    if row is None:
        raise not_found("owner")
    if not_modified(if_none_match, etag(row.version)):
        return not_modified_response(etag(row.version))
    return json_response(owner_view(row), tag=etag(row.version))


@router.put(
    "",
    response_model=OwnerView,
    summary="Set the user's timezone here (pushed from identity's); a change rebuckets "
    "what is kept per local day",
    responses={
        201: {"model": OwnerView},
        **problem_responses(401, 403, 412, 413, 415, 422),
    },
)
async def put_owner(
    user_id: UserId, data: OwnerWrite, uow: Writer, _: AdminOrService, if_match: IfMatch = None
) -> Response:
    row, created = await set_timezone(uow.session, user_id, data.timezone, if_match=if_match)
    return json_response(owner_view(row), status=201 if created else 200, tag=etag(row.version))


@router.delete(
    "",
    status_code=204,
    summary="Erase the user's data in this service (identity deleted the profile)",
    responses=problem_responses(401, 403, 422),
)
async def delete_owner(user_id: UserId, uow: Writer, _: AdminOrService) -> Response:
    await forget(uow.session, user_id)
    return Response(status_code=204)
