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
HISTORY_REMOVED = PREFIX + "HistoryRemoved"
DISMISSED = PREFIX + "ContinueWatchingDismissed"
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


def history_removed(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    *,
    entry_id: uuid.UUID | None = None,
    video_id: str | None = None,
) -> None:
    """One history entry removed (``entry_id``, ``video_id``), or, with neither, the viewer's
    whole history and resume points cleared (``scope``: entry or all)."""
    scope = "entry" if entry_id is not None else "all"
    _emit(
        session,
        HISTORY_REMOVED,
        user_id,
        "history",
        viewer_id=viewer_id,
        scope=scope,
        entry_id=str(entry_id) if entry_id is not None else None,
        video_id=video_id,
    )


def dismissed(session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str) -> None:
    _emit(session, DISMISSED, user_id, "history", viewer_id=viewer_id, video_id=video_id)


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
