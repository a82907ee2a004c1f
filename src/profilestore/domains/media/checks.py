"""The checks every media route makes: the account has a profile and the viewer is one of
its viewers (404 otherwise); a write also locks the account's profile row, which orders one
account's media writes and their events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.media.models import Viewer
from profilestore.domains.media.schemas import DEFAULT_VIEWER
from profilestore.platform import owners
from profilestore.platform.db import Database
from profilestore.platform.errors import not_found
from profilestore.platform.reads import PreparedRead


async def viewer_exists(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> bool:
    if viewer_id == DEFAULT_VIEWER:
        return await owners.owner_exists(session, user_id)
    statement = select(Viewer.viewer_id).where(
        Viewer.user_id == user_id, Viewer.viewer_id == viewer_id
    )
    return (await session.execute(statement)).first() is not None


async def require_viewer(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> None:
    """404 unless the account has a profile and ``viewer_id`` is one of its viewers."""
    if not await viewer_exists(session, user_id, viewer_id):
        raise not_found("viewer" if viewer_id != DEFAULT_VIEWER else "profile")


async def lock_for_write(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> None:
    """Lock the account's profile row (orders one account's media writes and their events)
    and check the viewer: 404 for an unknown profile or viewer."""
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    if viewer_id != DEFAULT_VIEWER:
        await require_viewer(session, user_id, viewer_id)


async def first_rows(
    db: Database, read: PreparedRead, user_id: uuid.UUID, viewer_id: str, size: int
) -> tuple[list[dict[str, Any]], bool]:
    """The first ``size`` rows of a viewer's list (``read`` asks for ``size + 1``) and whether
    more follow: one prepared statement; the viewer is checked only when there are none (a
    row of a viewer proves it exists: its rows go with it)."""
    rows = await read.all(db, user_id=user_id, viewer_id=viewer_id)
    if not rows:
        async with db.read_session() as session:
            await require_viewer(session, user_id, viewer_id)
    return rows[:size], len(rows) > size
