"""A user's training profile: what they train for, how often, with what, and what to spare."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.movement import events
from profilestore.domains.movement.models import MovementProfile
from profilestore.domains.movement.schemas import MovementWrite
from profilestore.platform import owners
from profilestore.platform.conditional import check_if_match_tag, etag
from profilestore.platform.db import utcnow
from profilestore.platform.errors import not_found
from profilestore.platform.schemas import patched

FIELDS = tuple(MovementWrite.model_fields)


def movement_view(row: MovementProfile) -> dict[str, Any]:
    return {
        "user_id": str(row.user_id),
        **{name: getattr(row, name) for name in FIELDS},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
    }


async def get_movement(session: AsyncSession, user_id: uuid.UUID) -> MovementProfile:
    row = await session.get(MovementProfile, user_id)
    if row is None:
        raise not_found("movement profile")
    return row


async def _lock(session: AsyncSession, user_id: uuid.UUID) -> MovementProfile | None:
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    return await session.get(MovementProfile, user_id)


async def put_movement(
    session: AsyncSession, user_id: uuid.UUID, data: MovementWrite, *, if_match: str | None
) -> tuple[MovementProfile, bool]:
    row = await _lock(session, user_id)
    check_if_match_tag(session, if_match, etag(row.version) if row else None)
    return await _write(session, user_id, row, data), row is None


async def patch_movement(
    session: AsyncSession, user_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> MovementProfile:
    row = await _lock(session, user_id)
    if row is None:
        raise not_found("movement profile")
    check_if_match_tag(session, if_match, etag(row.version))
    current = {name: getattr(row, name) for name in FIELDS}
    return await _write(session, user_id, row, patched(MovementWrite, current, patch))


async def _write(
    session: AsyncSession, user_id: uuid.UUID, row: MovementProfile | None, data: MovementWrite
) -> MovementProfile:
    columns = data.model_dump()
    changed = [k for k, v in columns.items() if row is None or getattr(row, k) != v]
    if row is not None and not changed:
        return row
    now = utcnow()
    if row is None:
        row = MovementProfile(user_id=user_id, created_at=now, version=0)
        session.add(row)
    for name, value in columns.items():
        setattr(row, name, value)
    row.updated_at = now
    row.version += 1
    await session.flush()
    events.movement_profile_changed(session, user_id, _event_view(row), changed)
    return row


def _event_view(row: MovementProfile) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS} | {"version": row.version}


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The profile is being deleted: the training profile goes with it (and is announced)."""
    row = await session.get(MovementProfile, user_id)
    if row is None:
        return
    await session.execute(delete(MovementProfile).where(MovementProfile.user_id == user_id))
    events.movement_profile_changed(session, user_id, None, list(FIELDS))
