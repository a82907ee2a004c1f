"""The nutrition section of the user's aggregate: body metrics, the eating profile (with the
calorie target), the active goal, and today's calorie summary."""

from __future__ import annotations

from typing import Any

from profilestore.domains.nutrition import body, eating, goals, summary, targets
from profilestore.domains.nutrition.models import Body, Eating
from profilestore.platform.hub import HubPart, HubRead


async def nutrition(read: HubRead) -> dict[str, Any] | None:
    session, user_id = read.session, read.user_id
    body_row = await session.get(Body, user_id)
    eating_row = await session.get(Eating, user_id)
    goal = await targets.active_goal(session, user_id)
    today = await summary.today(session, user_id)
    if body_row is None and eating_row is None and goal is None and not today["count"]:
        return None
    return {
        "body": body.body_view(body_row) if body_row else None,
        "eating": await eating.eating_view(session, eating_row) if eating_row else None,
        "goal": goals.goal_view(goal) if goal else None,
        "today": today,
    }


PART = HubPart("nutrition", nutrition)
