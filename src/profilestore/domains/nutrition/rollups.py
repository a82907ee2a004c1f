"""Hourly and daily rollups of the calorie ledger, in the user's timezone, kept in the
transaction of every ledger write so that summaries never scan events.

A local hour is keyed by the instant it starts (the repeated hour of a DST change is two
buckets; a +05:30 zone's hours start at :30 UTC), a local day by its date. New events are added
to their buckets by one upsert per table; a correction or a removal recounts the buckets it
touched from the events of those days. The zone the rollups are bucketed in is recorded: when
the profile's timezone changes, the user's rollups are rebuilt from the events in the new zone
(in the profile write's transaction, and again by any ledger write that finds them stale)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition.models import (
    CalorieEvent,
    DayRollup,
    HourRollup,
    RollupZone,
)

HOUR = dt.timedelta(hours=1)
MICROSECOND = dt.timedelta(microseconds=1)
DAY_MARGIN = dt.timedelta(hours=3)
"""Events fetched around a local day's bounds when recounting it (bounds are then checked
event by event with the same key functions that bucketed them)."""
DEFAULT_ZONE = "UTC"
KIND_PREFIX = {"consumed": "consumed", "burned_activity": "activity", "burned_other": "other"}
Ledger = Iterable[tuple[str, float, dt.datetime]]
"""Events as ``(kind, kcal, at)``."""


def zone_name(timezone: str | None) -> str:
    return timezone or DEFAULT_ZONE


def hour_key(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The instant the local hour of ``at`` started, at the offset in force at ``at``: so
    ``key <= at < key + 1 hour`` always, and the two 02:00 hours of a DST change differ."""
    local = at.astimezone(zone)
    into = dt.timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    return (at - into).astimezone(dt.UTC)


def day_key(at: dt.datetime, zone: ZoneInfo) -> dt.date:
    return at.astimezone(zone).date()


def day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first instant of the local ``day`` (midnight, or the end of a gap at midnight)."""
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def millikcal(kcal: float) -> int:
    return round(kcal * 1000)


@dataclass
class Totals:
    """A bucket: per-kind sums in millikcal (exact in any order) and counts, first and last."""

    consumed_mkcal: int = 0
    consumed_count: int = 0
    activity_mkcal: int = 0
    activity_count: int = 0
    other_mkcal: int = 0
    other_count: int = 0
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None

    @property
    def count(self) -> int:
        return self.consumed_count + self.activity_count + self.other_count

    def add(self, kind: str, kcal: float, at: dt.datetime) -> None:
        prefix = KIND_PREFIX[kind]
        setattr(self, f"{prefix}_mkcal", getattr(self, f"{prefix}_mkcal") + millikcal(kcal))
        setattr(self, f"{prefix}_count", getattr(self, f"{prefix}_count") + 1)
        self._span(at, at)

    def merge(self, other: Totals) -> None:
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.first_at is not None and other.last_at is not None:
            self._span(other.first_at, other.last_at)

    def _span(self, first: dt.datetime, last: dt.datetime) -> None:
        self.first_at = first if self.first_at is None else min(self.first_at, first)
        self.last_at = last if self.last_at is None else max(self.last_at, last)

    def columns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def of(cls, row: Any) -> Totals:
        return cls(*(getattr(row, name) for name in COLUMNS))


COLUMNS = tuple(f.name for f in fields(Totals))
COUNTED = tuple(name for name in COLUMNS if name.endswith(("_mkcal", "_count")))


@dataclass
class Fold:
    """Events bucketed by local hour and day."""

    zone: ZoneInfo
    hours: dict[dt.datetime, Totals] = field(default_factory=dict)
    days: dict[dt.date, Totals] = field(default_factory=dict)

    def add_all(self, ledger: Ledger) -> Fold:
        for kind, kcal, at in ledger:
            self.hours.setdefault(hour_key(at, self.zone), Totals()).add(kind, kcal, at)
            self.days.setdefault(day_key(at, self.zone), Totals()).add(kind, kcal, at)
        return self


async def add(session: AsyncSession, user_id: uuid.UUID, zone: str, ledger: Ledger) -> None:
    """Add new events to their buckets: one upsert per table, whatever the batch size."""
    fold = Fold(ZoneInfo(zone)).add_all(ledger)
    hours = [{"hour_start": key, **t.columns()} for key, t in sorted(fold.hours.items())]
    days = [{"day": key, **t.columns()} for key, t in sorted(fold.days.items())]
    await _upsert(session, HourRollup, "hour_start", user_id, hours)
    await _upsert(session, DayRollup, "day", user_id, days)


async def _upsert(
    session: AsyncSession,
    model: type[HourRollup] | type[DayRollup],
    key: str,
    user_id: uuid.UUID,
    rows: list[dict[str, Any]],
) -> None:
    if not rows:
        return
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    statement = (sqlite if on_sqlite else postgresql).insert(model)
    table, new = model.__table__.c, statement.excluded
    least, greatest = (func.min, func.max) if on_sqlite else (func.least, func.greatest)
    statement = statement.on_conflict_do_update(
        index_elements=[table.user_id, table[key]],
        set_={
            **{name: table[name] + new[name] for name in COUNTED},
            "first_at": least(table.first_at, new.first_at),
            "last_at": greatest(table.last_at, new.last_at),
        },
    )
    await session.execute(statement, [{"user_id": user_id, **row} for row in rows])


async def recount(
    session: AsyncSession, user_id: uuid.UUID, zone: str, instants: Iterable[dt.datetime]
) -> None:
    """Recount, from the events, the local days (and their hours) that hold ``instants``: where
    a corrected or removed event was, and where it is now."""
    tz = ZoneInfo(zone)
    days = sorted({day_key(at, tz) for at in instants})
    if not days:
        return
    spans = [(day_start(d, tz), day_start(d + dt.timedelta(days=1), tz)) for d in days]
    margin = [(low - DAY_MARGIN, high + DAY_MARGIN) for low, high in spans]
    fold = Fold(tz).add_all(await _ledger(session, user_id, margin))
    hours = [key for key in fold.hours if any(low <= key < high for low, high in spans)]
    await session.execute(
        delete(DayRollup).where(DayRollup.user_id == user_id, DayRollup.day.in_(days))
    )
    await session.execute(
        delete(HourRollup).where(
            HourRollup.user_id == user_id,
            or_(*(HourRollup.hour_start.between(low, high - MICROSECOND) for low, high in spans)),
        )
    )
    await _insert(session, user_id, fold, hours, [d for d in days if d in fold.days])


async def _insert(
    session: AsyncSession,
    user_id: uuid.UUID,
    fold: Fold,
    hours: Iterable[dt.datetime],
    days: Iterable[dt.date],
) -> None:
    hour_rows = [{"user_id": user_id, "hour_start": k, **fold.hours[k].columns()} for k in hours]
    day_rows = [{"user_id": user_id, "day": k, **fold.days[k].columns()} for k in days]
    if hour_rows:
        await session.execute(insert(HourRollup), hour_rows)
    if day_rows:
        await session.execute(insert(DayRollup), day_rows)


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild found: the events counted and the buckets that were wrong or missing."""

    events: int
    hours_differing: int
    days_differing: int


async def rebuild(session: AsyncSession, user_id: uuid.UUID, zone: str) -> Rebuilt:
    """Recompute every rollup of the user from the events, bucketed in ``zone`` (recorded as
    the rollups' zone), and report the buckets that differed from the stored ones."""
    ledger = await _ledger(session, user_id)
    fold = Fold(ZoneInfo(zone)).add_all(ledger)
    state = await session.get(RollupZone, user_id)
    same_zone = state is not None and state.timezone == zone
    hours_before = await _stored(session, HourRollup, user_id) if same_zone else {}
    days_before = await _stored(session, DayRollup, user_id) if same_zone else {}
    await session.execute(delete(HourRollup).where(HourRollup.user_id == user_id))
    await session.execute(delete(DayRollup).where(DayRollup.user_id == user_id))
    await _insert(session, user_id, fold, sorted(fold.hours), sorted(fold.days))
    if state is None:
        session.add(RollupZone(user_id=user_id, timezone=zone))
    else:
        state.timezone = zone
    await session.flush()
    return Rebuilt(
        events=len(ledger),
        hours_differing=_differing(hours_before, fold.hours) if same_zone else len(fold.hours),
        days_differing=_differing(days_before, fold.days) if same_zone else len(fold.days),
    )


def _differing(stored: dict[Any, Totals], counted: dict[Any, Totals]) -> int:
    return sum(stored.get(key) != counted.get(key) for key in stored.keys() | counted.keys())


async def _stored(
    session: AsyncSession, model: type[HourRollup] | type[DayRollup], user_id: uuid.UUID
) -> dict[Any, Totals]:
    table = model.__table__
    key = table.c.hour_start if model is HourRollup else table.c.day
    rows = await session.execute(select(table).where(table.c.user_id == user_id))
    return {getattr(row, key.name): Totals.of(row) for row in rows}


async def zone_for_write(session: AsyncSession, user_id: uuid.UUID, timezone: str | None) -> str:
    """Under the owner's lock: the zone a ledger write buckets in (the profile's), the user's
    rollups first rebuilt if they were bucketed in another zone (or never recorded one)."""
    wanted = zone_name(timezone)
    state = await session.get(RollupZone, user_id)
    if state is None or state.timezone != wanted:
        await rebuild(session, user_id, wanted)
    return wanted


async def stored_zone(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    statement = select(RollupZone.timezone).where(RollupZone.user_id == user_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def stored_hours(
    session: AsyncSession, user_id: uuid.UUID, low: dt.datetime, high: dt.datetime
) -> dict[dt.datetime, Totals]:
    table = HourRollup.__table__.c
    statement = select(HourRollup.__table__).where(
        table.user_id == user_id, table.hour_start >= low, table.hour_start < high
    )
    return {row.hour_start: Totals.of(row) for row in await session.execute(statement)}


async def stored_days(
    session: AsyncSession, user_id: uuid.UUID, first: dt.date, last: dt.date
) -> dict[dt.date, Totals]:
    table = DayRollup.__table__.c
    statement = select(DayRollup.__table__).where(
        table.user_id == user_id, table.day >= first, table.day <= last
    )
    return {row.day: Totals.of(row) for row in await session.execute(statement)}


async def counted(
    session: AsyncSession, user_id: uuid.UUID, zone: str, low: dt.datetime, high: dt.datetime
) -> Fold:
    """The buckets counted from the events between ``low`` and ``high`` (padded): what a
    summary answers from while the rollups are bucketed in another zone than the profile's."""
    spans = [(low - DAY_MARGIN, high + DAY_MARGIN)]
    return Fold(ZoneInfo(zone)).add_all(await _ledger(session, user_id, spans))


async def profile_changed(
    session: AsyncSession, profile: dict[str, Any], changed: list[str]
) -> None:
    """A profile write changed its timezone: rebuild the user's rollups in the new zone, in the
    same transaction (the profile row is locked, so no ledger write runs meanwhile)."""
    if "timezone" not in changed:
        return
    user_id, zone = profile["user_id"], zone_name(profile["timezone"])
    recorded = await stored_zone(session, user_id)
    if recorded is not None and recorded != zone:
        await rebuild(session, user_id, zone)


async def _ledger(
    session: AsyncSession,
    user_id: uuid.UUID,
    spans: list[tuple[dt.datetime, dt.datetime]] | None = None,
) -> list[tuple[str, float, dt.datetime]]:
    """The user's events as ``(kind, kcal, at)``: all, or those in any of ``spans``."""
    statement = select(CalorieEvent.kind, CalorieEvent.kcal, CalorieEvent.at).where(
        CalorieEvent.user_id == user_id
    )
    if spans is not None:
        statement = statement.where(
            or_(*((CalorieEvent.at >= low) & (CalorieEvent.at < high) for low, high in spans))
        )
    return [(kind, kcal, at) for kind, kcal, at in await session.execute(statement)]
