"""Tables of the username rules: names held for their former owners, and when each user last
changed their username. Both are keyed by user_id first and go with the profile."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime


class UsernameHold(Base):
    """A username its former owner gave up, kept from everyone else until ``held_until``."""

    __tablename__ = "username_holds"
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(32), primary_key=True)
    held_until: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class UsernameChange(Base):
    """When the user last changed their username (the once-per-period rule)."""

    __tablename__ = "username_changes"
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


Index("uq_username_holds_username", UsernameHold.username, unique=True)
"""One holder per name: a name is held for at most one former owner at a time."""
