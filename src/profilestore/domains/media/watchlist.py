"""A viewer's watchlist: what they saved to watch later, newest first."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.media import cached, events
from profilestore.domains.media.checks import first_rows, lock_for_write, require_viewer
from profilestore.domains.media.models import WatchlistItem
from profilestore.domains.media.schemas import WatchlistAdd
from profilestore.platform.db import Database, utcnow
from profilestore.platform.errors import ProblemError
from profilestore.platform.pagination import newest_first_page
from profilestore.platform.reads import PreparedRead
from profilestore.platform.uow import SETTINGS


def item_dict(item: WatchlistItem) -> dict[str, Any]:
    return {"video_id": item.video_id, "note": item.note, "added_at": item.added_at}


def _of(user_id: uuid.UUID, viewer_id: str) -> Any:
    return select(WatchlistItem).where(
        WatchlistItem.user_id == user_id, WatchlistItem.viewer_id == viewer_id
    )


async def page(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    await require_viewer(session, user_id, viewer_id)
    rows, next_cursor = await newest_first_page(
        session,
        _of(user_id, viewer_id),
        WatchlistItem.added_at,
        WatchlistItem.video_id,
        cursor=cursor,
        limit=limit,
    )
    return [item_dict(row) for row in rows], next_cursor


_FIRST_PAGE = PreparedRead(
    select(WatchlistItem.video_id, WatchlistItem.note, WatchlistItem.added_at)
    .where(
        WatchlistItem.user_id == bindparam("user_id"),
        WatchlistItem.viewer_id == bindparam("viewer_id"),
    )
    .order_by(WatchlistItem.added_at.desc(), WatchlistItem.video_id.desc())
    .limit(cached.FIRST_PAGE + 1)
)


async def first_page(
    db: Database, user_id: uuid.UUID, viewer_id: str
) -> tuple[list[dict[str, Any]], bool]:
    """The first ``cached.FIRST_PAGE`` items and whether more follow."""
    return await first_rows(db, _FIRST_PAGE, user_id, viewer_id, cached.FIRST_PAGE)


async def find(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_ids: list[str]
) -> list[dict[str, Any]]:
    """The items among ``video_ids`` ("are these on my list?"), newest first."""
    await require_viewer(session, user_id, viewer_id)
    statement = (
        _of(user_id, viewer_id)
        .where(WatchlistItem.video_id.in_(video_ids))
        .order_by(WatchlistItem.added_at.desc(), WatchlistItem.video_id.desc())
    )
    return [item_dict(row) for row in (await session.execute(statement)).scalars()]


async def add(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, data: WatchlistAdd
) -> tuple[dict[str, Any], bool]:
    """The item and whether it was added (False: it was already there, unchanged)."""
    await lock_for_write(session, user_id, viewer_id)
    existing = await _get(session, user_id, viewer_id, data.video_id)
    if existing is not None:
        return item_dict(existing), False
    limit = session.info[SETTINGS].media_watchlist_max
    count = select(func.count()).where(WatchlistItem.user_id == user_id)
    if (await session.execute(count)).scalar_one() >= limit:
        raise ProblemError(
            409,
            "watchlist-full",
            f"A watchlist holds at most {limit} items per account: remove some first.",
        )
    item = WatchlistItem(
        user_id=user_id,
        viewer_id=viewer_id,
        video_id=data.video_id,
        note=data.note,
        added_at=utcnow(),
    )
    session.add(item)
    await session.flush()
    cached.mark_watchlist_stale(session, user_id, viewer_id)
    events.watchlist_updated(session, user_id, viewer_id, "added", data.video_id)
    return item_dict(item), True


async def remove(session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str) -> None:
    """Idempotent: removing what is not there changes nothing (and emits nothing)."""
    await lock_for_write(session, user_id, viewer_id)
    statement = delete(WatchlistItem).where(
        WatchlistItem.user_id == user_id,
        WatchlistItem.viewer_id == viewer_id,
        WatchlistItem.video_id == video_id,
    )
    if (await session.execute(statement)).rowcount:  # type: ignore[attr-defined]
        cached.mark_watchlist_stale(session, user_id, viewer_id)
        events.watchlist_updated(session, user_id, viewer_id, "removed", video_id)


async def _get(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str
) -> WatchlistItem | None:
    statement = _of(user_id, viewer_id).where(WatchlistItem.video_id == video_id)
    return (await session.execute(statement)).scalar_one_or_none()
