"""API models of the media domain: the one place that says what each write accepts and what
each answer holds."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from profilestore.domains.profiles.public import AvatarUrl, Locale, PublicProfile
from profilestore.platform.schemas import WriteModel
from profilestore.platform.types import BoundedDatetime, TextRule

VIDEO_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
VIEWER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"
DEFAULT_VIEWER = "default"
MAX_SECONDS = 86_400.0
"""Longest video (24 h)."""
POSITION_SLACK_SECONDS = 5.0
"""A position may pass the duration by this much (players round, streams drift)."""

VideoId = Annotated[
    str,
    StringConstraints(strict=True, pattern=VIDEO_ID_PATTERN),
    Field(
        description="The catalogue's id of the video: 1-128 of A-Za-z0-9._:-",
        examples=["tt0133093"],
    ),
]
Seconds = Annotated[float, Field(strict=True, ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
Maturity = Literal["kids", "teen", "all"]


class ViewerWrite(WriteModel):
    name: Annotated[str, TextRule(64, strip=True, not_blank=True)] = Field(
        description="Unique in the account (trimmed)"
    )
    avatar_url: AvatarUrl | None = None
    maturity: Maturity = "all"
    language: Locale | None = None
    subtitle_language: Locale | None = None

    def columns(self) -> dict[str, object]:
        data = self.model_dump()
        data["avatar_url"] = str(self.avatar_url) if self.avatar_url is not None else None
        return data


class DefaultViewerWrite(ViewerWrite):
    """The account's own viewer: its name may be null (the profile's name is shown)."""

    name: Annotated[str, TextRule(64, strip=True, not_blank=True)] | None = None  # type: ignore[assignment]


class Viewer(BaseModel):
    user_id: uuid.UUID
    viewer_id: str
    is_default: bool
    name: str | None
    avatar_url: str | None
    maturity: Maturity
    language: str | None
    subtitle_language: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    version: int


class ViewerList(BaseModel):
    items: list[Viewer]
    max_viewers: int


class WatchlistAdd(WriteModel):
    video_id: VideoId
    note: Annotated[str, TextRule(500, multiline=True)] | None = None


class WatchlistItem(BaseModel):
    video_id: str
    note: str | None
    added_at: dt.datetime


class WatchlistPage(BaseModel):
    viewer_id: str
    items: list[WatchlistItem]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class Beat(WriteModel):
    """Where the player is: sent every few seconds while a video plays. ``position_seconds``
    may pass ``duration_seconds`` by at most ``POSITION_SLACK_SECONDS`` (checked by the
    service, which names the field)."""

    video_id: VideoId
    position_seconds: Seconds
    duration_seconds: Annotated[Seconds, Field(gt=0)]
    watched_at: BoundedDatetime | None = Field(
        None, description="When the player was there (default: now); at most 5 minutes ahead"
    )
    device: Annotated[str, TextRule(64)] | None = None
    entry_id: uuid.UUID | None = Field(
        None,
        description="A client UUID for this beat: sending it again is a no-op; a beat that "
        "opens a history entry gives the entry this id",
    )


class ResumePoint(BaseModel):
    viewer_id: str
    video_id: str
    position_seconds: float
    duration_seconds: float
    progress: float = Field(description="position / duration, 0-1")
    completed: bool
    dismissed: bool = Field(description="Hidden from continue-watching until watched again")
    watched_at: dt.datetime
    entry_id: uuid.UUID | None = Field(description="The history entry beats now write to")


class BeatAnswer(ResumePoint):
    applied: bool = Field(
        description="false: the beat was a retry or older than the stored one, nothing changed"
    )


class ContinueWatchingPage(BaseModel):
    viewer_id: str
    items: list[ResumePoint]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    entry_id: uuid.UUID
    viewer_id: str
    video_id: str
    started_at: dt.datetime
    watched_at: dt.datetime
    position_seconds: float
    duration_seconds: float
    progress: float
    completed: bool
    device: str | None


class HistoryPage(BaseModel):
    viewer_id: str
    items: list[HistoryEntry]
    next_cursor: str | None


class RatingWrite(WriteModel):
    stars: Annotated[int, Field(strict=True, ge=1, le=5)]
    review: Annotated[str, TextRule(5000, multiline=True, strip=True)] | None = None
    spoiler: StrictBool = False


class RatingPost(RatingWrite):
    """``POST .../ratings``: the PUT's body with the video named in it."""

    video_id: VideoId


class Rating(BaseModel):
    user_id: uuid.UUID
    viewer_id: str
    video_id: str
    stars: int
    review: str | None
    spoiler: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class RatingPage(BaseModel):
    viewer_id: str
    items: list[Rating]
    next_cursor: str | None


class VideoRatings(BaseModel):
    video_id: str
    count: int
    average: float | None = Field(description="Mean stars, 2 decimals; null without ratings")
    distribution: dict[Literal["1", "2", "3", "4", "5"], int]


class Review(BaseModel):
    video_id: str
    stars: int
    review: str
    spoiler: bool
    updated_at: dt.datetime
    author_id: uuid.UUID = Field(description="The account that wrote it")
    author: PublicProfile | None = Field(
        description="The author's public profile; null where this service does not serve "
        "identity (a media service on a database of its own: docs/federation.md)"
    )


class ReviewPage(BaseModel):
    items: list[Review]
    next_cursor: str | None
