"""The media section of the user's aggregate (the account's default viewer): how many videos
are on the watchlist, and the first ten of continue watching."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from profilestore.domains.media import history
from profilestore.domains.media.models import WatchlistItem
from profilestore.domains.media.schemas import DEFAULT_VIEWER
from profilestore.platform.hub import HubPart, HubRead

CONTINUE_WATCHING = 10


async def media(read: HubRead) -> dict[str, Any] | None:
    session, user_id = read.session, read.user_id
    count = (
        await session.execute(
            select(func.count()).where(
                WatchlistItem.user_id == user_id, WatchlistItem.viewer_id == DEFAULT_VIEWER
            )
        )
    ).scalar_one()
    started, _ = await history.continue_watching(
        session, user_id, DEFAULT_VIEWER, cursor=None, limit=CONTINUE_WATCHING
    )
    if not count and not started:
        return None
    return {"watchlist_count": count, "continue_watching": started}


PART = HubPart("media", media)
