"""Viewing history and resume points. A player sends a beat every few seconds; each beat
upserts the video's resume point and writes to the video's current history entry, or opens a
new one when the entry is older than the history window. A beat older than the stored one
(out of order) or a repeat of the last one (same ``entry_id``) changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.media import cached, events
from profilestore.domains.media.checks import first_rows, lock_for_write, require_viewer
from profilestore.domains.media.models import HistoryEntry, ResumePoint
from profilestore.domains.media.schemas import POSITION_SLACK_SECONDS, Beat
from profilestore.platform.db import Database, utcnow
from profilestore.platform.errors import invalid
from profilestore.platform.pagination import newest_first_page
from profilestore.platform.reads import PreparedRead
from profilestore.platform.uow import SETTINGS

FUTURE_SKEW = dt.timedelta(minutes=5)
"""How far ahead of the server's clock a player's ``watched_at`` may be."""
_POINT_FIELDS = (
    "viewer_id",
    "video_id",
    "position_seconds",
    "duration_seconds",
    "progress",
    "completed",
    "dismissed",
    "watched_at",
    "entry_id",
)
_ENTRY_FIELDS = (
    "entry_id",
    "viewer_id",
    "video_id",
    "started_at",
    "watched_at",
    "position_seconds",
    "duration_seconds",
    "progress",
    "completed",
    "device",
)


def point_dict(point: ResumePoint) -> dict[str, Any]:
    return {name: getattr(point, name) for name in _POINT_FIELDS}


def entry_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _ENTRY_FIELDS}


async def beat(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, data: Beat
) -> dict[str, Any]:
    """Apply one beat; the resume point after it, with ``applied``."""
    settings = session.info[SETTINGS]
    if data.watched_at is not None and data.watched_at > utcnow() + FUTURE_SKEW:
        raise invalid("body.watched_at", "is more than 5 minutes ahead of the server", "future")
    if data.position_seconds > data.duration_seconds + POSITION_SLACK_SECONDS:
        limit = f"duration_seconds + {POSITION_SLACK_SECONDS:g}"
        raise invalid("body.position_seconds", f"must not be past {limit}", "past_end")
    await lock_for_write(session, user_id, viewer_id)
    now = utcnow()  # after the lock: beats without watched_at are timed in the order applied
    watched_at = data.watched_at or now
    point = await _point(session, user_id, viewer_id, data.video_id)
    if point is not None and _already_applied(point, data, watched_at):
        return {**point_dict(point), "applied": False}
    if data.entry_id is not None and await _entry_taken(session, user_id, viewer_id, data):
        return {**point_dict(point), "applied": False} if point else _refuse_entry_id()
    progress = min(data.position_seconds / data.duration_seconds, 1.0)
    completed = progress >= settings.media_completion_ratio
    was_completed = point is not None and point.completed
    window = dt.timedelta(seconds=settings.media_history_window_seconds)
    entry = await _open_entry(session, user_id, point, watched_at, window)
    if entry is None:
        entry = HistoryEntry(
            user_id=user_id,
            entry_id=data.entry_id or uuid.uuid4(),
            viewer_id=viewer_id,
            video_id=data.video_id,
            started_at=watched_at,
        )
        session.add(entry)
    entry.watched_at = watched_at
    _set_progress(entry, data, progress, completed)
    if data.device is not None:
        entry.device = data.device
    if point is None:
        point = ResumePoint(user_id=user_id, viewer_id=viewer_id, video_id=data.video_id)
        session.add(point)
    _set_progress(point, data, progress, completed)
    point.dismissed = False
    point.watched_at = watched_at
    point.entry_id = entry.entry_id
    point.last_beat_id = data.entry_id
    point.updated_at = now
    if _event_due(point, now, completed and not was_completed, settings.media_beat_event_seconds):
        point.last_event_at = now
        events.history_updated(
            session,
            user_id,
            viewer_id,
            data.video_id,
            position_seconds=data.position_seconds,
            progress=round(progress, 4),
            completed=completed,
        )
    await session.flush()
    cached.mark_progress_stale(session, user_id, viewer_id, data.video_id)
    return {**point_dict(point), "applied": True}


def _set_progress(
    target: ResumePoint | HistoryEntry, data: Beat, progress: float, completed: bool
) -> None:
    target.position_seconds = data.position_seconds
    target.duration_seconds = data.duration_seconds
    target.progress = progress
    target.completed = completed


def _already_applied(point: ResumePoint, data: Beat, watched_at: dt.datetime) -> bool:
    """A repeat of the last beat, or a beat older than the stored one."""
    if data.entry_id is not None and data.entry_id == point.last_beat_id:
        return True
    return watched_at <= point.watched_at


def _event_due(point: ResumePoint, now: dt.datetime, completion: bool, every: float) -> bool:
    """A completion is always an event; mere progress at most once per ``every`` seconds."""
    if completion or point.last_event_at is None:
        return True
    return (now - point.last_event_at).total_seconds() >= every


async def _entry_taken(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, data: Beat
) -> bool:
    """Whether ``data.entry_id`` already names a history entry (the beat that opened it was
    applied: this is a retry)."""
    statement = select(HistoryEntry.viewer_id, HistoryEntry.video_id).where(
        HistoryEntry.user_id == user_id, HistoryEntry.entry_id == data.entry_id
    )
    found = (await session.execute(statement)).first()
    if found is not None and (found.viewer_id, found.video_id) != (viewer_id, data.video_id):
        _refuse_entry_id()
    return found is not None


def _refuse_entry_id() -> dict[str, Any]:
    raise invalid(
        "body.entry_id", "already names a history entry of another video or viewer", "taken"
    )


async def _open_entry(
    session: AsyncSession,
    user_id: uuid.UUID,
    point: ResumePoint | None,
    watched_at: dt.datetime,
    window: dt.timedelta,
) -> HistoryEntry | None:
    """The history entry this beat belongs to: the point's current one, while the beat is
    within the window from its start; None: open a new one."""
    if point is None or point.entry_id is None:
        return None
    statement = select(HistoryEntry).where(
        HistoryEntry.user_id == user_id, HistoryEntry.entry_id == point.entry_id
    )
    entry = (await session.execute(statement)).scalar_one_or_none()
    if entry is None or not entry.started_at <= watched_at < entry.started_at + window:
        return None
    return entry


async def _point(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str
) -> ResumePoint | None:
    statement = select(ResumePoint).where(
        ResumePoint.user_id == user_id,
        ResumePoint.viewer_id == viewer_id,
        ResumePoint.video_id == video_id,
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def resume_point(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str
) -> dict[str, Any] | None:
    await require_viewer(session, user_id, viewer_id)
    point = await _point(session, user_id, viewer_id, video_id)
    return point_dict(point) if point is not None else None


_CONTINUE = (
    ResumePoint.completed.is_(False),
    ResumePoint.dismissed.is_(False),
    ResumePoint.position_seconds > 0,
)
_FIRST_CONTINUE = PreparedRead(
    select(*(ResumePoint.__table__.c[name] for name in _POINT_FIELDS))
    .where(
        ResumePoint.user_id == bindparam("user_id"),
        ResumePoint.viewer_id == bindparam("viewer_id"),
        *_CONTINUE,
    )
    .order_by(ResumePoint.watched_at.desc(), ResumePoint.video_id.desc())
    .limit(cached.FIRST_PAGE + 1)
)


async def continue_watching_first(
    db: Database, user_id: uuid.UUID, viewer_id: str
) -> tuple[list[dict[str, Any]], bool]:
    """The first ``cached.FIRST_PAGE`` rows of continue watching and whether more follow."""
    return await first_rows(db, _FIRST_CONTINUE, user_id, viewer_id, cached.FIRST_PAGE)


async def continue_watching(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Started, not completed, not dismissed; most recently watched first."""
    await require_viewer(session, user_id, viewer_id)
    statement = select(ResumePoint).where(
        ResumePoint.user_id == user_id, ResumePoint.viewer_id == viewer_id, *_CONTINUE
    )
    rows, next_cursor = await newest_first_page(
        session,
        statement,
        ResumePoint.watched_at,
        ResumePoint.video_id,
        cursor=cursor,
        limit=limit,
    )
    return [point_dict(row) for row in rows], next_cursor


async def dismiss(session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str) -> None:
    """Hide a video from continue-watching; its resume point stays (a new beat brings it back)."""
    await lock_for_write(session, user_id, viewer_id)
    statement = (
        update(ResumePoint)
        .where(
            ResumePoint.user_id == user_id,
            ResumePoint.viewer_id == viewer_id,
            ResumePoint.video_id == video_id,
            ResumePoint.dismissed.is_(False),
        )
        .values(dismissed=True)
    )
    if (await session.execute(statement)).rowcount:  # type: ignore[attr-defined]
        cached.mark_progress_stale(session, user_id, viewer_id, video_id)
        events.dismissed(session, user_id, viewer_id, video_id)


async def history(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    await require_viewer(session, user_id, viewer_id)
    statement = select(HistoryEntry).where(
        HistoryEntry.user_id == user_id, HistoryEntry.viewer_id == viewer_id
    )
    if since is not None:
        statement = statement.where(HistoryEntry.watched_at >= since)
    if until is not None:
        statement = statement.where(HistoryEntry.watched_at < until)
    rows, next_cursor = await newest_first_page(
        session,
        statement,
        HistoryEntry.watched_at,
        HistoryEntry.entry_id,
        cursor=cursor,
        limit=limit,
    )
    return [entry_dict(row) for row in rows], next_cursor


async def delete_entry(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, entry_id: uuid.UUID
) -> None:
    """Idempotent. The video's resume point stays (``DELETE .../history`` clears both)."""
    await lock_for_write(session, user_id, viewer_id)
    statement = (
        delete(HistoryEntry)
        .where(
            HistoryEntry.user_id == user_id,
            HistoryEntry.viewer_id == viewer_id,
            HistoryEntry.entry_id == entry_id,
        )
        .returning(HistoryEntry.video_id)
    )
    video_id = (await session.execute(statement)).scalar_one_or_none()
    if video_id is not None:
        events.history_removed(session, user_id, viewer_id, entry_id=entry_id, video_id=video_id)


async def clear(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> None:
    """Every history entry and resume point of the viewer."""
    await lock_for_write(session, user_id, viewer_id)
    statement = select(ResumePoint.video_id).where(
        ResumePoint.user_id == user_id, ResumePoint.viewer_id == viewer_id
    )
    videos = list((await session.execute(statement)).scalars())
    for table in (HistoryEntry, ResumePoint):
        await session.execute(
            delete(table).where(table.user_id == user_id, table.viewer_id == viewer_id)
        )
    cached.mark_progress_stale(session, user_id, viewer_id, *videos)
    events.history_removed(session, user_id, viewer_id)
