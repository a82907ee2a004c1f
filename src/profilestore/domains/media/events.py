"""Events of the media domain, keyed by the account's user id. Watchlist notes and review texts
are private to the viewer and stay out of event payloads."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.events.outbox import emit

PREFIX = "profilestore.media."
WATCHLIST_UPDATED = PREFIX + "WatchlistUpdated"
HISTORY_UPDATED = PREFIX + "HistoryUpdated"
VIDEO_RATED = PREFIX + "VideoRated"
VIEWER_CHANGED = PREFIX + "ViewerChanged"


def _emit(
    session: AsyncSession, event_type: str, user_id: uuid.UUID, aggregate: str, **data: Any
) -> None:
    payload = {"user_id": str(user_id), **data}
    emit(session, event_type=event_type, user_id=user_id, aggregatetype=aggregate, data=payload)


def watchlist_updated(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, action: str, video_id: str
) -> None:
    """``action``: added or removed."""
    _emit(
        session,
        WATCHLIST_UPDATED,
        user_id,
        "watchlist",
        viewer_id=viewer_id,
        action=action,
        video_id=video_id,
    )


def history_updated(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    video_id: str,
    *,
    position_seconds: float,
    progress: float,
    completed: bool,
) -> None:
    _emit(
        session,
        HISTORY_UPDATED,
        user_id,
        "history",
        viewer_id=viewer_id,
        video_id=video_id,
        position_seconds=position_seconds,
        progress=progress,
        completed=completed,
    )


def video_rated(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    video_id: str,
    *,
    stars: int | None,
    previous_stars: int | None,
    action: str,
) -> None:
    """``action``: rated (new), changed, or removed (``stars`` null)."""
    _emit(
        session,
        VIDEO_RATED,
        user_id,
        "rating",
        viewer_id=viewer_id,
        video_id=video_id,
        stars=stars,
        previous_stars=previous_stars,
        action=action,
    )


def viewer_changed(session: AsyncSession, user_id: uuid.UUID, viewer_id: str, action: str) -> None:
    """``action``: created, updated or deleted (names and avatars stay out)."""
    _emit(session, VIEWER_CHANGED, user_id, "viewer", viewer_id=viewer_id, action=action)
