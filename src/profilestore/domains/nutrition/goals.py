"""Weight goals: one active at a time; setting a new one ends the previous (kept, listed)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import events, targets
from profilestore.domains.nutrition.models import Goal
from profilestore.domains.nutrition.schemas import GoalWrite
from profilestore.platform import owners
from profilestore.platform.db import utcnow
from profilestore.platform.errors import not_found

GOALS_LISTED = 100
"""Most goals one read lists (newest first)."""


def goal_view(goal: Goal) -> dict[str, Any]:
    return {
        "goal_id": str(goal.goal_id),
        "goal_type": goal.goal_type,
        "target_weight_kg": goal.target_weight_kg,
        "target_date": goal.target_date,
        "rate_kg_per_week": goal.rate_kg_per_week,
        "started_at": goal.started_at,
        "ended_at": goal.ended_at,
        "active": goal.ended_at is None,
    }


async def set_goal(session: AsyncSession, user_id: uuid.UUID, data: GoalWrite) -> dict[str, Any]:
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    now = utcnow()
    previous = await targets.active_goal(session, user_id)
    if previous is not None:
        previous.ended_at = now
    goal = Goal(user_id=user_id, goal_id=uuid.uuid4(), started_at=now, **data.model_dump())
    session.add(goal)
    await session.flush()
    view = goal_view(goal)
    events.goal_set(
        session,
        user_id,
        {
            "goal_id": view["goal_id"],
            "goal_type": goal.goal_type,
            "target_weight_kg": goal.target_weight_kg,
            "target_date": goal.target_date.isoformat() if goal.target_date else None,
            "rate_kg_per_week": goal.rate_kg_per_week,
        },
    )
    await targets.refresh(session, user_id)
    return view


async def list_goals(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    if not await owners.owner_exists(session, user_id):
        raise not_found("profile")
    statement = (
        select(Goal)
        .where(Goal.user_id == user_id)
        .order_by(Goal.started_at.desc())
        .limit(GOALS_LISTED)
    )
    return [goal_view(goal) for goal in (await session.execute(statement)).scalars()]
