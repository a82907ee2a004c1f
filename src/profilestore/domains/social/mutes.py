"""Mutes: the muter stops seeing a user without blocking them. The muted user is not told and
keeps every access (a mute is private to the muter: only they, admins and services read it).
What a mute hides here: the muted user in every followers and following list the muter reads;
other services read the mutes (or their events) to hide more (feeds, notifications)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import public as profiles
from profilestore.domains.social import events
from profilestore.domains.social.follow_models import Mute
from profilestore.platform.db import utcnow
from profilestore.platform.errors import invalid, not_found
from profilestore.platform.pagination import keyset_page


def _mute_dict(mute: Mute) -> dict[str, Any]:
    return {
        "user_id": mute.user_id,
        "muted_user_id": mute.muted_user_id,
        "created_at": mute.created_at,
    }


async def mute(
    session: AsyncSession, owner: uuid.UUID, other: uuid.UUID
) -> tuple[dict[str, Any], bool]:
    """Mute ``other``; as with blocks, any user id may be muted, so the answer says nothing
    about whether ``other`` has a profile. True if the mute is new."""
    if owner == other:
        raise invalid("path.muted_user_id", "must differ from user_id", "self")
    if not await profiles.lock_owner(session, owner):
        raise not_found("profile")
    statement = select(Mute).where(Mute.user_id == owner, Mute.muted_user_id == other)
    existing = (await session.execute(statement)).scalar_one_or_none()
    if existing is not None:
        return _mute_dict(existing), False
    created = Mute(user_id=owner, muted_user_id=other, created_at=utcnow())
    session.add(created)
    await session.flush()
    events.mute_event(session, events.USER_MUTED, owner, other)
    return _mute_dict(created), True


async def unmute(session: AsyncSession, owner: uuid.UUID, other: uuid.UUID) -> bool:
    if not await profiles.lock_owner(session, owner):
        raise not_found("profile")
    result = await session.execute(
        delete(Mute).where(Mute.user_id == owner, Mute.muted_user_id == other)
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        events.mute_event(session, events.USER_UNMUTED, owner, other)
    return removed


async def list_mutes(
    session: AsyncSession, owner: uuid.UUID, *, cursor: str | None, limit: int
) -> dict[str, Any]:
    statement = select(Mute).where(Mute.user_id == owner)
    page, next_cursor = await keyset_page(
        session, statement, Mute.muted_user_id, cursor=cursor, limit=limit
    )
    if not page and cursor is None and not await profiles.profile_exists(session, owner):
        raise not_found("profile")
    return {"items": [_mute_dict(m) for m in page], "next_cursor": next_cursor}
