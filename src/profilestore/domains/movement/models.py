"""Tables of the movement domain: each user's training profile (keyed by user_id) and the
programme catalogue (shared, keyed by a slug)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime


class MovementProfile(Base):
    """What a user trains for and with; every field may be unknown."""

    __tablename__ = "movement_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    goals: Mapped[list[str]] = mapped_column(JSON)
    experience: Mapped[str | None] = mapped_column(String(16))
    days_per_week: Mapped[int | None] = mapped_column(Integer)
    session_minutes: Mapped[int | None] = mapped_column(Integer)
    equipment: Mapped[list[str] | None] = mapped_column(JSON)
    preferred_activities: Mapped[list[str]] = mapped_column(JSON)
    limitations: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class Program(Base):
    """A training programme of the catalogue."""

    __tablename__ = "movement_programs"

    program_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000))
    goals: Mapped[list[str]] = mapped_column(JSON)
    level: Mapped[str] = mapped_column(String(16))
    days_per_week: Mapped[int] = mapped_column(Integer)
    session_minutes: Mapped[int] = mapped_column(Integer)
    equipment: Mapped[list[str]] = mapped_column(JSON)
    loads: Mapped[list[str]] = mapped_column(JSON)
    activities: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)
