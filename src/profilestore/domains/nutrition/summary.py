"""Calorie summaries per local hour, day, ISO week (Monday first), month or year, read from the
rollups (weeks, months and years folded from the daily rows), never from the events.

From ``day`` up a bucket also carries the energy balance of the days in it that have logged
events: ``consumed - (BMR burn + burned_activity)``, where the BMR burn of a day is the
Mifflin-St Jeor BMR (with the weight logged for that day or the nearest before it, else the
current weight) over the
hours of that local day that have passed (23 or 25 on a DST change; today so far), and the
variance to the calorie target in force at the end of that day (from the target history)."""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import formulas, rollups
from profilestore.domains.nutrition.models import Body, TargetChange, WeightEntry
from profilestore.domains.nutrition.rollups import HOUR, Totals, day_start
from profilestore.platform import owners
from profilestore.platform.db import utcnow
from profilestore.platform.errors import invalid, not_found

GRANULARITIES = ("hour", "day", "week", "month", "year")
MAX_BUCKETS = 4000
BMR_NEEDS = ("height_cm", "weight_kg", "birth_date")
ONE_DAY = dt.timedelta(days=1)


def period_start(granularity: str, day: dt.date) -> dt.date:
    """The first day of the week, month or year (or the day itself) that holds ``day``."""
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    if granularity == "year":
        return day.replace(month=1, day=1)
    return day


def _period_end(granularity: str, day: dt.date) -> dt.date:
    """The last day of the period that holds ``day``."""
    start = period_start(granularity, day)
    if granularity == "week":
        return start + dt.timedelta(days=6)
    if granularity == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - ONE_DAY
    if granularity == "year":
        return start.replace(month=12, day=31)
    return day


def _default_first(granularity: str, last: dt.date) -> dt.date:
    """A month of days, a quarter of weeks, a year of months, five years; hours of today."""
    if granularity == "day":
        return last - dt.timedelta(days=29)
    if granularity == "week":
        return last - dt.timedelta(weeks=12)
    if granularity == "month":
        return last.replace(year=last.year - 1, day=1) if last.month < 12 else last.replace(day=1)
    if granularity == "year":
        return last.replace(year=last.year - 4, month=1, day=1)
    return last


def _span(granularity: str, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    if first > last:
        raise invalid("query.from", "must not be after `to`", "range")
    first, last = period_start(granularity, first), _period_end(granularity, last)
    days = (last - first).days + 1
    buckets = days * 24 if granularity == "hour" else _periods(granularity, first, last)
    if buckets > MAX_BUCKETS:
        raise invalid("query.to", f"at most {MAX_BUCKETS} buckets in one summary", "range")
    return first, last


def _periods(granularity: str, first: dt.date, last: dt.date) -> int:
    if granularity == "day":
        return (last - first).days + 1
    if granularity == "week":
        return (last - first).days // 7 + 1
    if granularity == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return last.year - first.year + 1


async def summary(
    session: AsyncSession,
    user_id: uuid.UUID,
    granularity: str,
    first: dt.date | None,
    last: dt.date | None,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    zone_name = await _zone_of(session, user_id)
    return await _summary(session, user_id, zone_name, granularity, first, last, now)


async def _summary(
    session: AsyncSession,
    user_id: uuid.UUID,
    zone_name: str,
    granularity: str,
    first: dt.date | None,
    last: dt.date | None,
    now: dt.datetime | None,
) -> dict[str, Any]:
    zone, now = ZoneInfo(zone_name), now or utcnow()
    last = last or now.astimezone(zone).date()
    first, last = _span(granularity, first or _default_first(granularity, last), last)
    current = await rollups.stored_zone(session, user_id) == zone_name
    reader = _Reader(session, user_id, zone, current)
    if granularity == "hour":
        buckets = await _hours(reader, first, last)
        missing: list[str] = []
    else:
        energy = await _Energy.load(session, user_id, zone, first, last, now)
        buckets = await _days(reader, energy, granularity, first, last)
        missing = energy.missing
    return {
        "user_id": user_id,
        "granularity": granularity,
        "timezone": zone_name,
        "from": first,
        "to": last,
        "missing": missing,
        "buckets": buckets,
    }


@dataclass(frozen=True)
class _Reader:
    """Buckets from the rollups, or counted from the events while the rollups are bucketed in
    another zone than the profile's (a timezone change not yet seen by a ledger write)."""

    session: AsyncSession
    user_id: uuid.UUID
    zone: ZoneInfo
    current: bool

    async def hours(self, low: dt.datetime, high: dt.datetime) -> dict[dt.datetime, Totals]:
        if self.current:
            return await rollups.stored_hours(self.session, self.user_id, low, high)
        fold = await self._counted(low, high)
        return {key: t for key, t in fold.hours.items() if low <= key < high}

    async def days(self, first: dt.date, last: dt.date) -> dict[dt.date, Totals]:
        if self.current:
            return await rollups.stored_days(self.session, self.user_id, first, last)
        fold = await self._counted(
            day_start(first, self.zone), day_start(last + ONE_DAY, self.zone)
        )
        return {key: t for key, t in fold.days.items() if first <= key <= last}

    async def _counted(self, low: dt.datetime, high: dt.datetime) -> rollups.Fold:
        return await rollups.counted(self.session, self.user_id, self.zone.key, low, high)


async def _hours(reader: _Reader, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    low, high = day_start(first, reader.zone), day_start(last + ONE_DAY, reader.zone)
    stored = await reader.hours(low, high)
    keys, instant = set(stored), low
    while instant < high:
        keys.add(rollups.hour_key(instant, reader.zone))
        instant += HOUR
    return [
        {"start": key.astimezone(reader.zone).isoformat(), **_totals(stored.get(key), reader.zone)}
        for key in sorted(k for k in keys if low <= k < high)
    ]


async def _days(
    reader: _Reader, energy: _Energy, granularity: str, first: dt.date, last: dt.date
) -> list[dict[str, Any]]:
    by_period: dict[dt.date, list[tuple[dt.date, Totals]]] = {}
    for day, day_totals in sorted((await reader.days(first, last)).items()):
        if day_totals.count:
            by_period.setdefault(period_start(granularity, day), []).append((day, day_totals))
    buckets: list[dict[str, Any]] = []
    start = first
    while start <= last:
        end = _period_end(granularity, start)
        days, balance = by_period.get(start, []), _Balance()
        for day, day_totals in days:
            balance.add(energy, day, day_totals)
        totals = days[0][1] if len(days) == 1 else _merged(t for _, t in days)
        bucket = {"start": start.isoformat(), **_totals(totals, reader.zone), **balance.view()}
        if granularity == "day":
            bucket["hours"] = energy.hours(start)
        buckets.append(bucket)
        start = end + ONE_DAY
    return buckets


def _merged(parts: Iterable[Totals]) -> Totals:
    totals = Totals()
    for part in parts:
        totals.merge(part)
    return totals


def _kcal(mkcal: int) -> float:
    return mkcal / 1000


def _totals(totals: Totals | None, zone: ZoneInfo) -> dict[str, Any]:
    t = totals or Totals()
    total = t.consumed_mkcal + t.activity_mkcal + t.other_mkcal
    return {
        "consumed": _kcal(t.consumed_mkcal),
        "burned": _kcal(t.activity_mkcal + t.other_mkcal),
        "burned_activity": _kcal(t.activity_mkcal),
        "burned_other": _kcal(t.other_mkcal),
        "count": t.count,
        "avg": round(total / t.count / 1000, 3) if t.count else None,
        "first": t.first_at.astimezone(zone).isoformat() if t.first_at else None,
        "last": t.last_at.astimezone(zone).isoformat() if t.last_at else None,
    }


@dataclass
class _Balance:
    """The energy of a bucket's logged days (unknown parts stay None)."""

    days_logged: int = 0
    bmr_burn: float | None = 0.0
    balance: float | None = 0.0
    target: float | None = None
    variance: float | None = None

    def add(self, energy: _Energy, day: dt.date, totals: Totals) -> None:
        self.days_logged += 1
        consumed = _kcal(totals.consumed_mkcal)
        burn = energy.bmr_burn(day)
        if burn is None or self.bmr_burn is None or self.balance is None:
            self.bmr_burn = self.balance = None
        else:
            self.bmr_burn += burn
            self.balance += consumed - burn - _kcal(totals.activity_mkcal)
        target = energy.target(day)
        if target is not None:
            self.target = (self.target or 0.0) + target
            self.variance = (self.variance or 0.0) + consumed - target

    def view(self) -> dict[str, Any]:
        logged = self.days_logged > 0
        return {
            "days_logged": self.days_logged,
            "bmr_burn": _round(self.bmr_burn) if logged else None,
            "balance": _round(self.balance) if logged else None,
            "target": _round(self.target),
            "variance": _round(self.variance),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class _Energy:
    """What a day's balance needs: the body, the weights and the targets around the range."""

    zone: ZoneInfo
    now: dt.datetime
    body: Body | None
    weights: list[tuple[dt.date, float]]
    targets: list[tuple[dt.datetime, float | None]]

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        user_id: uuid.UUID,
        zone: ZoneInfo,
        first: dt.date,
        last: dt.date,
        now: dt.datetime,
    ) -> _Energy:
        body = await session.get(Body, user_id)
        weights = await _since_last_before(
            session, WeightEntry.day, WeightEntry.weight_kg, user_id, first, last + ONE_DAY
        )
        targets = await _since_last_before(
            session,
            TargetChange.effective_at,
            TargetChange.kcal,
            user_id,
            day_start(first, zone),
            day_start(last + ONE_DAY, zone),
        )
        return cls(zone, now, body, weights, targets)

    starts: dict[dt.date, dt.datetime] = field(default_factory=dict, compare=False)
    """Each local day's first instant, converted once per read."""
    rates: dict[tuple[float, int], float] = field(default_factory=dict, compare=False)
    """BMR (kcal a day) by weight and age, computed once per read."""

    @cached_property
    def missing(self) -> list[str]:
        body = self.body
        return [name for name in BMR_NEEDS if body is None or getattr(body, name) is None]

    def start(self, day: dt.date) -> dt.datetime:
        found = self.starts.get(day)
        if found is None:
            found = self.starts[day] = day_start(day, self.zone)
        return found

    def hours(self, day: dt.date) -> float:
        return (self.start(day + ONE_DAY) - self.start(day)) / HOUR

    def bmr_burn(self, day: dt.date) -> float | None:
        """The BMR of ``day`` over the part of that local day that has passed."""
        body = self.body
        if body is None or self.missing:
            return None
        assert body.height_cm is not None and body.birth_date is not None
        key = (self._weight_on(day, body.weight_kg), formulas.age_on(body.birth_date, day))
        per_day = self.rates.get(key)
        if per_day is None:
            sex: Any = body.sex
            per_day = formulas.bmr_mifflin_st_jeor(key[0], body.height_cm, key[1], sex)
            self.rates[key] = per_day
        start, end = self.start(day), self.start(day + ONE_DAY)
        passed = max(dt.timedelta(0), min(end, self.now) - start)
        return per_day * (passed / (24 * HOUR))

    def _weight_on(self, day: dt.date, current: float | None) -> float:
        index = bisect.bisect_right(self.weights, day, key=lambda entry: entry[0])
        if index:
            return self.weights[index - 1][1]
        assert current is not None
        return current

    def target(self, day: dt.date) -> float | None:
        """The target in force at the end of ``day`` (the last one set before it ended)."""
        end = self.start(day + ONE_DAY)
        index = bisect.bisect_left(self.targets, end, key=lambda entry: entry[0])
        return self.targets[index - 1][1] if index else None


async def _since_last_before(
    session: AsyncSession, moment: Any, value: Any, user_id: uuid.UUID, low: Any, high: Any
) -> list[tuple[Any, Any]]:
    """``(moment, value)`` rows of the user from the last one before ``low`` to ``high``
    (excluded), oldest first: the one in force when the range starts, and every change in it."""
    table = moment.class_
    last_before = (
        select(func.max(moment)).where(table.user_id == user_id, moment < low).scalar_subquery()
    )
    since = literal(low, moment.type)
    statement = (
        select(moment, value)
        .where(
            table.user_id == user_id,
            moment < high,
            moment >= func.coalesce(last_before, since),
        )
        .order_by(moment)
    )
    return [(row[0], row[1]) for row in await session.execute(statement)]


async def today(
    session: AsyncSession, user_id: uuid.UUID, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Today's bucket (the user's local day): the hub's "how am I doing today"."""
    zone_name, now = await _zone_of(session, user_id), now or utcnow()
    day = now.astimezone(ZoneInfo(zone_name)).date()
    answer = await _summary(session, user_id, zone_name, "day", day, day, now)
    bucket: dict[str, Any] = answer["buckets"][0]
    return bucket


async def _zone_of(session: AsyncSession, user_id: uuid.UUID) -> str:
    exists, timezone = await owners.owner_timezone(session, user_id)
    if not exists:
        raise not_found("profile")
    return rollups.zone_name(timezone)
