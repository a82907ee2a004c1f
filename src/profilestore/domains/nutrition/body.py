"""Body metrics and weight history. Stored metric; answered in the user's units, with the
derived age, BMR (by the formula asked for) and TDEE, and the fields those still need."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import events, formulas, targets
from profilestore.domains.nutrition.models import (
    Body,
    CalorieEvent,
    DayRollup,
    Eating,
    Goal,
    HourRollup,
    RollupZone,
    TargetChange,
    WeightEntry,
)
from profilestore.domains.nutrition.schemas import BodyWrite, WeightLog
from profilestore.platform import owners
from profilestore.platform.conditional import check_if_match_tag, etag
from profilestore.platform.db import utcnow
from profilestore.platform.errors import invalid, not_found
from profilestore.platform.schemas import patched

STORED = ("height_cm", "weight_kg", "birth_date", "sex", "activity_level", "body_fat_percent")
NEEDS = {
    "mifflin_st_jeor": ("height_cm", "weight_kg", "birth_date"),
    "harris_benedict": ("height_cm", "weight_kg", "birth_date"),
    "katch_mcardle": ("weight_kg", "body_fat_percent"),
}
NEW_BODY: dict[str, Any] = {"units": "metric"}
"""A body never set: every metric unknown, answered in metric units."""
WEIGHTS_LISTED = 1000
"""Most weight entries one read answers (ask with from/to for older ones)."""


def today() -> dt.date:
    return utcnow().date()


def bmr(row: Body, formula: str, age: int | None) -> float | None:
    if any(getattr(row, name) is None for name in NEEDS[formula]):
        return None
    sex: Any = row.sex
    if formula == "katch_mcardle":
        assert row.weight_kg is not None and row.body_fat_percent is not None
        return formulas.bmr_katch_mcardle(row.weight_kg, row.body_fat_percent)
    assert row.weight_kg is not None and row.height_cm is not None and age is not None
    equation = (
        formulas.bmr_mifflin_st_jeor
        if formula == "mifflin_st_jeor"
        else formulas.bmr_harris_benedict
    )
    return equation(row.weight_kg, row.height_cm, age, sex)


def body_view(row: Body, formula: str = "mifflin_st_jeor") -> dict[str, Any]:
    age = formulas.age_on(row.birth_date, today()) if row.birth_date else None
    basal = bmr(row, formula, age)
    level: Any = row.activity_level
    expenditure = formulas.tdee(basal, level) if basal is not None and level else None
    missing = [name for name in NEEDS[formula] if getattr(row, name) is None]
    if row.activity_level is None:
        missing.append("activity_level")
    view: dict[str, Any] = {
        "user_id": str(row.user_id),
        "birth_date": row.birth_date,
        "age": age,
        "sex": row.sex,
        "activity_level": row.activity_level,
        "body_fat_percent": row.body_fat_percent,
        "units": row.units,
        "formula": formula,
        "bmr": round(basal, 1) if basal is not None else None,
        "tdee": round(expenditure, 1) if expenditure is not None else None,
        "missing": missing,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
    }
    return view | _lengths(row.height_cm, row.weight_kg, row.units)


def _lengths(height_cm: float | None, weight_kg: float | None, units: str) -> dict[str, Any]:
    if units == "imperial":
        return {
            "height_in": _round(height_cm, formulas.cm_to_inches),
            "weight_lb": _round(weight_kg, formulas.kg_to_pounds),
        }
    return {"height_cm": height_cm, "weight_kg": weight_kg}


def _round(value: float | None, convert: Any) -> float | None:
    return round(convert(value), 1) if value is not None else None


async def _row(session: AsyncSession, user_id: uuid.UUID) -> Body | None:
    statement = select(Body).where(Body.user_id == user_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_body(session: AsyncSession, user_id: uuid.UUID) -> Body:
    row = await _row(session, user_id)
    if row is None:
        raise not_found("body metrics")
    return row


async def _lock(session: AsyncSession, user_id: uuid.UUID) -> Body | None:
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    return await _row(session, user_id)


async def put_body(
    session: AsyncSession, user_id: uuid.UUID, data: BodyWrite, *, if_match: str | None
) -> tuple[Body, bool]:
    """Replace the body metrics (fields left out become unknown); created or not."""
    row = await _lock(session, user_id)
    check_if_match_tag(session, if_match, etag(row.version) if row else None)
    return await _write(session, user_id, row, data), row is None


async def patch_body(
    session: AsyncSession, user_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> Body:
    row = await _lock(session, user_id)
    if row is None:
        raise not_found("body metrics")
    check_if_match_tag(session, if_match, etag(row.version))
    current: dict[str, Any] = {name: getattr(row, name) for name in (*STORED, "units")}
    current["birth_date"] = row.birth_date.isoformat() if row.birth_date else None
    for metric, imperial in (("height_cm", "height_in"), ("weight_kg", "weight_lb")):
        if imperial in patch:
            current.pop(metric)  # the patch gives it in the other unit
    return await _write(session, user_id, row, patched(BodyWrite, current, patch))


async def _write(
    session: AsyncSession, user_id: uuid.UUID, row: Body | None, data: BodyWrite
) -> Body:
    now = utcnow()
    columns = data.columns()
    before = {name: getattr(row, name) for name in (*STORED, "units")} if row else NEW_BODY
    changed = [name for name, value in columns.items() if before.get(name) != value]
    if row is not None and not changed:
        return row
    if row is None:
        row = Body(user_id=user_id, created_at=now, version=0)
        session.add(row)
    for name, value in columns.items():
        setattr(row, name, value)
    row.updated_at = now
    row.version += 1
    if "weight_kg" in changed and row.weight_kg is not None:
        await _log_weight(session, user_id, today(), row.weight_kg)
    await session.flush()
    view = body_view(row)
    events.body_metrics_changed(session, user_id, changed, view["bmr"], view["tdee"])
    await targets.refresh(session, user_id)
    return row


async def _log_weight(
    session: AsyncSession, user_id: uuid.UUID, day: dt.date, kilograms: float
) -> None:
    statement = select(WeightEntry).where(WeightEntry.user_id == user_id, WeightEntry.day == day)
    entry = (await session.execute(statement)).scalar_one_or_none()
    if entry is None:
        entry = WeightEntry(user_id=user_id, day=day)
        session.add(entry)
    entry.weight_kg = kilograms
    entry.logged_at = utcnow()


async def log_weight(session: AsyncSession, user_id: uuid.UUID, data: WeightLog) -> dict[str, Any]:
    """Log the weight of a day (today or before; that day's earlier entry is replaced). The
    newest day's weight is the body's current weight."""
    if data.day > today() + dt.timedelta(days=1):  # a day ahead: the user's time zone
        raise invalid("body.day", "must not be in the future", "future")
    row = await _lock(session, user_id)
    kilograms = data.kilograms()
    await _log_weight(session, user_id, data.day, kilograms)
    await session.flush()
    newest = await session.execute(
        select(WeightEntry.day)
        .where(WeightEntry.user_id == user_id)
        .order_by(WeightEntry.day.desc())
    )
    if row is not None and newest.scalars().first() == data.day and row.weight_kg != kilograms:
        row.weight_kg = kilograms
        row.updated_at = utcnow()
        row.version += 1
        view = body_view(row)
        events.body_metrics_changed(session, user_id, ["weight_kg"], view["bmr"], view["tdee"])
        await targets.refresh(session, user_id)
    return weight_view(data.day, kilograms, row.units if row else "metric")


def weight_view(day: dt.date, kilograms: float, units: str) -> dict[str, Any]:
    if units == "imperial":
        return {"day": day, "weight_lb": round(formulas.kg_to_pounds(kilograms), 1)}
    return {"day": day, "weight_kg": kilograms}


async def weights(
    session: AsyncSession, user_id: uuid.UUID, since: dt.date | None, until: dt.date | None
) -> list[dict[str, Any]]:
    """Weight entries from ``since`` to ``until`` (both included), oldest first; the newest
    ``WEIGHTS_LISTED`` of them."""
    if not await owners.owner_exists(session, user_id):
        raise not_found("profile")
    units = (await session.execute(select(Body.units).where(Body.user_id == user_id))).scalar()
    statement = select(WeightEntry).where(WeightEntry.user_id == user_id)
    if since is not None:
        statement = statement.where(WeightEntry.day >= since)
    if until is not None:
        statement = statement.where(WeightEntry.day <= until)
    statement = statement.order_by(WeightEntry.day.desc()).limit(WEIGHTS_LISTED)
    rows = list((await session.execute(statement)).scalars())
    return [weight_view(row.day, row.weight_kg, units or "metric") for row in reversed(rows)]


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The profile is being deleted: every nutrition row of the user goes with it."""
    tables = (CalorieEvent, HourRollup, DayRollup, RollupZone, WeightEntry, TargetChange)
    for table in (*tables, Goal, Eating, Body):
        await session.execute(delete(table).where(table.user_id == user_id))
