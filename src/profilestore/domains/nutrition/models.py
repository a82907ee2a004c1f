"""Tables of the nutrition domain, keyed by user_id first; every quantity stored metric."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
)
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


class Eating(Base):
    """A user's eating profile, and the calorie target they (or a dietitian) set by hand."""

    __tablename__ = "nutrition_eating"

    user_id: Mapped[uuid.UUID] = _owner()
    diet: Mapped[str | None] = mapped_column(String(16))
    allergies: Mapped[list[str]] = mapped_column(JSON)
    excluded_foods: Mapped[list[str]] = mapped_column(JSON)
    meals_per_day: Mapped[int | None] = mapped_column(Integer)
    macro_split: Mapped[dict[str, int] | None] = mapped_column(JSON)
    calorie_target_override: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class Goal(Base):
    """A weight goal; the one without ``ended_at`` is active (a new goal ends it)."""

    __tablename__ = "nutrition_goals"

    user_id: Mapped[uuid.UUID] = _owner()
    goal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    goal_type: Mapped[str] = mapped_column(String(16))
    target_weight_kg: Mapped[float | None] = mapped_column(Float)
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    rate_kg_per_week: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class TargetChange(Base):
    """The calorie target from ``effective_at`` on (the history the daily balance needs)."""

    __tablename__ = "nutrition_targets"

    user_id: Mapped[uuid.UUID] = _owner()
    effective_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    kcal: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(8))
    clamped: Mapped[bool] = mapped_column(Boolean)


class CalorieEvent(Base):
    """One calorie eaten or burned; ``event_id`` is the client's (a retry is not counted twice)."""

    __tablename__ = "nutrition_calories"

    user_id: Mapped[uuid.UUID] = _owner()
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    kcal: Mapped[float] = mapped_column(Float)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    source: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


Index("ix_nutrition_calories_at", CalorieEvent.user_id, CalorieEvent.at, CalorieEvent.event_id)


class _Totals:
    """Per-kind sums (integer millikcal: exact under any order of adds) and counts of a bucket,
    and its first and last event's instant."""

    consumed_mkcal: Mapped[int] = mapped_column(BigInteger)
    consumed_count: Mapped[int] = mapped_column(Integer)
    activity_mkcal: Mapped[int] = mapped_column(BigInteger)
    activity_count: Mapped[int] = mapped_column(Integer)
    other_mkcal: Mapped[int] = mapped_column(BigInteger)
    other_count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class HourRollup(_Totals, Base):
    """A local hour of the user's ledger, keyed by the instant the local hour starts (so the
    repeated hour of a DST change is two rows, and a +05:30 zone's hours start at :30 UTC)."""

    __tablename__ = "nutrition_calories_hourly"

    user_id: Mapped[uuid.UUID] = _owner()
    hour_start: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)


class DayRollup(_Totals, Base):
    """A local day of the user's ledger (weeks, months and years are folded from these)."""

    __tablename__ = "nutrition_calories_daily"

    user_id: Mapped[uuid.UUID] = _owner()
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)


class RollupZone(Base):
    """The timezone the user's rollups are bucketed in (their profile's when last rebuilt)."""

    __tablename__ = "nutrition_rollup_zone"

    user_id: Mapped[uuid.UUID] = _owner()
    timezone: Mapped[str] = mapped_column(String(64))
