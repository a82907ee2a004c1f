"""Tables of the nutrition domain, keyed by user_id first; every quantity stored metric."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime


def _owner() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True)


class Body(Base):
    """A user's body metrics (one row per user; every field may be unknown)."""

    __tablename__ = "nutrition_body"

    user_id: Mapped[uuid.UUID] = _owner()
    height_cm: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(8))
    activity_level: Mapped[str | None] = mapped_column(String(20))
    body_fat_percent: Mapped[float | None] = mapped_column(Float)
    units: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class WeightEntry(Base):
    """A dated weight: one per user and day (a later one the same day replaces it)."""

    __tablename__ = "nutrition_weights"

    user_id: Mapped[uuid.UUID] = _owner()
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    weight_kg: Mapped[float] = mapped_column(Float)
    logged_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
