"""``GET /v1/profiles/{user_id}/audit``: the user's audit records, newest first, a page at a
time (the user themself or an admin; others get 404). See ``platform.audit``."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from profilestore.platform.access import PrivateWrite
from profilestore.platform.audit import AuditRecord
from profilestore.platform.errors import ProblemError, invalid, problem_responses
from profilestore.platform.params import Reader, UserId

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{11}$"
"""A cursor as ``encode_cursor`` writes it (a record id, 8 bytes, URL-safe base64)."""

router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["privacy"])


class ValueChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old: Any = Field(description="null: the row was created (or the field was empty)")
    new: Any = Field(description="null: the row was deleted (or the field emptied)")


class SensitiveChange(BaseModel):
    """A field declared sensitive: that it changed, never its values."""

    model_config = ConfigDict(extra="forbid")
    changed: Literal[True]


class RowChange(BaseModel):
    resource: str = Field(description="The table, e.g. addresses")
    key: dict[str, Any] = Field(description="The row's key besides user_id")
    op: str = Field(description="created, updated or deleted")
    fields: dict[str, ValueChange | SensitiveChange]


class AuditEntry(BaseModel):
    id: int
    at: dt.datetime
    actor: str = Field(description="The token's subject, or system for background work")
    actor_roles: list[str]
    request_id: str | None
    action: str = Field(description="METHOD /route/{template}, a job's name, or erasure")
    target: str | None = Field(description="The path the request wrote to")
    events: list[str] = Field(description="Event types the change emitted")
    changes: list[RowChange]
    more_changes: int = Field(description="Row changes beyond those listed")


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next (older) page; null at the end"
    )


Cursor = Annotated[
    str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Who changed the user's data, when, and what changed (newest first)",
    description=(
        "One record per committed transaction that changed the user's data: the caller "
        "(token subject and roles, request id), the route, the events, and per row the old "
        'and new value of each changed field (`{"changed": true}` for sensitive fields).'
    ),
    responses=problem_responses(401, 404, 422),
)
async def list_audit(
    user_id: UserId,
    session: Reader,
    _: PrivateWrite,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AuditPage:
    statement = select(AuditRecord).where(AuditRecord.user_id == user_id)
    if cursor is not None:
        statement = statement.where(AuditRecord.id < decode_cursor(cursor))
    statement = statement.order_by(AuditRecord.id.desc()).limit(limit + 1)
    rows = list((await session.execute(statement)).scalars())
    page = rows[:limit]
    more = len(rows) > limit
    return AuditPage(
        items=[AuditEntry.model_validate(row, from_attributes=True) for row in page],
        next_cursor=encode_cursor(page[-1].id) if more else None,
    )


def encode_cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(record_id.to_bytes(8, "big")).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=")
    except (ValueError, binascii.Error):
        raise _bad_cursor() from None
    if len(raw) != 8 or raw[0] & 0x80:  # ids are positive 64-bit integers
        raise _bad_cursor()
    return int.from_bytes(raw, "big")


def _bad_cursor() -> ProblemError:
    return invalid("query.cursor", "not a cursor from this API", "cursor")
