"""API models of follows and mutes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from profilestore.domains.profiles.public import PublicProfile


class Follow(BaseModel):
    user_id: uuid.UUID = Field(description="The follower")
    followed_user_id: uuid.UUID
    created_at: dt.datetime
    state: Literal["following", "requested"] = Field(
        description="following; or requested: the account is private, and the request waits "
        "for its owner to accept it"
    )


class FollowEntry(BaseModel):
    user_id: uuid.UUID = Field(description="The follower (followers) or followed (following)")
    created_at: dt.datetime = Field(description="When the follow was made")
    profile: PublicProfile | None = Field(description="Their public profile, as you may see it")


class FollowPage(BaseModel):
    items: list[FollowEntry]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )
    followers_count: int = Field(description="Everyone following the user (kept, not counted)")
    following_count: int = Field(description="Everyone the user follows (kept, not counted)")


class FollowRequestEntry(BaseModel):
    user_id: uuid.UUID = Field(description="Who asks to follow")
    created_at: dt.datetime = Field(description="When they asked")
    profile: PublicProfile | None = Field(description="Their public profile, as you may see it")


class FollowRequestPage(BaseModel):
    items: list[FollowRequestEntry]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class Mute(BaseModel):
    user_id: uuid.UUID
    muted_user_id: uuid.UUID
    created_at: dt.datetime


class MutePage(BaseModel):
    items: list[Mute]
    next_cursor: str | None
