"""The calorie target: an override when one is set, else derived from TDEE (Mifflin-St Jeor)
and the active goal, never below the minimum for the sex (the clamp reported). Every write that
can move it (body metrics, a goal, the override) calls ``refresh``, which records the new target
in the target history, in force from that moment, and emits ``CalorieTargetChanged``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import events, formulas
from profilestore.domains.nutrition.models import Body, Eating, Goal, TargetChange
from profilestore.platform.db import utcnow

NEEDS = ("height_cm", "weight_kg", "birth_date", "activity_level")


async def current(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """``calorie_target`` (kcal a day, or None), ``target_source``, ``clamped``, ``missing``."""
    eating = await session.get(Eating, user_id)
    if eating is not None and eating.calorie_target_override is not None:
        override = float(eating.calorie_target_override)
        return _target(override, "override", clamped=False, missing=[])
    body = await session.get(Body, user_id)
    missing = [name for name in NEEDS if body is None or getattr(body, name) is None]
    if body is None or missing:
        return _target(None, "derived", clamped=False, missing=missing)
    assert body.birth_date and body.weight_kg and body.height_cm and body.activity_level
    age = formulas.age_on(body.birth_date, utcnow().date())
    sex: Any = body.sex
    level: Any = body.activity_level
    bmr = formulas.bmr_mifflin_st_jeor(body.weight_kg, body.height_cm, age, sex)
    goal = await active_goal(session, user_id)
    goal_type: Any = goal.goal_type if goal else "maintenance"
    rate = goal.rate_kg_per_week if goal else None
    target = formulas.calorie_target(formulas.tdee(bmr, level), goal_type, sex, rate)
    return _target(round(target.kcal), "derived", clamped=target.clamped, missing=[])


def _target(
    kcal: float | None, source: str, *, clamped: bool, missing: list[str]
) -> dict[str, Any]:
    return {"calorie_target": kcal, "target_source": source, "clamped": clamped, "missing": missing}


async def active_goal(session: AsyncSession, user_id: uuid.UUID) -> Goal | None:
    statement = select(Goal).where(Goal.user_id == user_id, Goal.ended_at.is_(None))
    return (await session.execute(statement)).scalar_one_or_none()


async def refresh(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Recompute the target; record and announce it if it moved. The target, as ``current``."""
    await session.flush()
    target = await current(session, user_id)
    statement = (
        select(TargetChange)
        .where(TargetChange.user_id == user_id)
        .order_by(TargetChange.effective_at.desc())
        .limit(1)
    )
    last = (await session.execute(statement)).scalar_one_or_none()
    new, source = target["calorie_target"], target["target_source"]
    if last is not None and (last.kcal, last.source) == (new, source):
        return target
    if last is None and new is None:
        return target
    session.add(
        TargetChange(
            user_id=user_id,
            effective_at=utcnow(),
            kcal=new,
            source=source,
            clamped=target["clamped"],
        )
    )
    events.calorie_target_changed(session, user_id, last.kcal if last else None, new, source)
    return target
