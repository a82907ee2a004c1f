"""Tables of the media domain, keyed by the account's user_id first. A ``video_id`` belongs to
the catalogue service: an opaque string, never a foreign key. Every row of a viewer carries
its ``viewer_id`` (``default`` for the account itself, which needs no row of its own)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime

VIDEO_ID_LENGTH = 128
VIEWER_ID_LENGTH = 36


def _owner() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True)


class Viewer(Base):
    """A viewer profile of a household account ("who's watching")."""

    __tablename__ = "media_viewers"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_media_viewers_name"),)

    user_id: Mapped[uuid.UUID] = _owner()
    viewer_id: Mapped[str] = mapped_column(String(VIEWER_ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    maturity: Mapped[str] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(35))
    subtitle_language: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class WatchlistItem(Base):
    __tablename__ = "media_watchlist"

    user_id: Mapped[uuid.UUID] = _owner()
    viewer_id: Mapped[str] = mapped_column(String(VIEWER_ID_LENGTH), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(VIDEO_ID_LENGTH), primary_key=True)
    note: Mapped[str | None] = mapped_column(String(500))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ResumePoint(Base):
    """Where a viewer is in a video, and the bookkeeping of its beats: the history entry the
    current window writes to, the last beat applied (a retry of it is a no-op) and when the
    last ``HistoryUpdated`` event was emitted (at most one a minute per video)."""

    __tablename__ = "media_resume_points"

    user_id: Mapped[uuid.UUID] = _owner()
    viewer_id: Mapped[str] = mapped_column(String(VIEWER_ID_LENGTH), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(VIDEO_ID_LENGTH), primary_key=True)
    position_seconds: Mapped[float] = mapped_column(Float)
    duration_seconds: Mapped[float] = mapped_column(Float)
    progress: Mapped[float] = mapped_column(Float)
    completed: Mapped[bool] = mapped_column(Boolean)
    dismissed: Mapped[bool] = mapped_column(Boolean)
    watched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_beat_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_event_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class HistoryEntry(Base):
    """One stretch of watching a video (beats within the history window update it)."""

    __tablename__ = "media_history"

    user_id: Mapped[uuid.UUID] = _owner()
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    viewer_id: Mapped[str] = mapped_column(String(VIEWER_ID_LENGTH))
    video_id: Mapped[str] = mapped_column(String(VIDEO_ID_LENGTH))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    watched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    position_seconds: Mapped[float] = mapped_column(Float)
    duration_seconds: Mapped[float] = mapped_column(Float)
    progress: Mapped[float] = mapped_column(Float)
    completed: Mapped[bool] = mapped_column(Boolean)
    device: Mapped[str | None] = mapped_column(String(64))


class Rating(Base):
    __tablename__ = "media_ratings"

    user_id: Mapped[uuid.UUID] = _owner()
    viewer_id: Mapped[str] = mapped_column(String(VIEWER_ID_LENGTH), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(VIDEO_ID_LENGTH), primary_key=True)
    stars: Mapped[int] = mapped_column(SmallInteger)
    review: Mapped[str | None] = mapped_column(Text)
    spoiler: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class VideoRatings(Base):
    """A video's rating aggregate, kept by every rating write in the same transaction."""

    __tablename__ = "media_video_ratings"

    video_id: Mapped[str] = mapped_column(String(VIDEO_ID_LENGTH), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    stars_total: Mapped[int] = mapped_column(Integer)
    stars_1: Mapped[int] = mapped_column(Integer)
    stars_2: Mapped[int] = mapped_column(Integer)
    stars_3: Mapped[int] = mapped_column(Integer)
    stars_4: Mapped[int] = mapped_column(Integer)
    stars_5: Mapped[int] = mapped_column(Integer)


Index(
    "ix_media_watchlist_newest",
    WatchlistItem.user_id,
    WatchlistItem.viewer_id,
    WatchlistItem.added_at,
    WatchlistItem.video_id,
)
Index(
    "ix_media_resume_recent",
    ResumePoint.user_id,
    ResumePoint.viewer_id,
    ResumePoint.watched_at,
    ResumePoint.video_id,
)
Index(
    "ix_media_history_newest",
    HistoryEntry.user_id,
    HistoryEntry.viewer_id,
    HistoryEntry.watched_at,
    HistoryEntry.entry_id,
)
Index(
    "ix_media_ratings_newest",
    Rating.user_id,
    Rating.viewer_id,
    Rating.updated_at,
    Rating.video_id,
)
Index("ix_media_ratings_video", Rating.video_id, Rating.updated_at, Rating.user_id)
