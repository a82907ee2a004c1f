"""Tables of follows and mutes, keyed by the acting user's id first (the follower, the muter).
The other user's id is a plain column, indexed for the reverse look-ups (followers of a user,
the users muting one who is being deleted). ``follows`` holds accepted follows only: a later
follow request to a private account belongs in its own table, and is counted once accepted."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime


class Follow(Base):
    __tablename__ = "follows"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    followed_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class FollowCounts(Base):
    """How many users follow the user and how many they follow, kept by every follow write
    (a read never counts rows). Other users' follows write this row, so it has no owner key:
    the key's check would lock the followed user's profile row against their own writes,
    and two users following each other at once would deadlock. ``user_deleted`` removes it."""

    __tablename__ = "follow_counts"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)


class Mute(Base):
    __tablename__ = "mutes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    muted_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class FollowRequest(Base):
    """A pending request to follow a private account, keyed by the account asked (its owner
    lists, accepts and declines them); accepting moves it into ``follows``. The requester
    writes this row while holding their own lock, so it has no owner key (as the counts):
    the key's check would lock the asked user's profile row, and two private accounts asking
    each other at once would deadlock. ``user_deleted`` removes it, both ways."""

    __tablename__ = "follow_requests"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    requester_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


Index("ix_follows_followed_user_id", Follow.followed_user_id, Follow.user_id)
Index(
    "ix_follow_requests_requester_user_id",
    FollowRequest.requester_user_id,
    FollowRequest.user_id,
)
Index("ix_mutes_muted_user_id", Mute.muted_user_id, Mute.user_id)
