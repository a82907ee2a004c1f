"""Events of the nutrition domain, keyed by the user id. Body metrics are private: the event
says which fields changed and the derived energy figures, not the measurements."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.events.outbox import emit

PREFIX = "profilestore.nutrition."
BODY_METRICS_CHANGED = PREFIX + "BodyMetricsChanged"


def body_metrics_changed(
    session: AsyncSession,
    user_id: uuid.UUID,
    changed: list[str],
    bmr: float | None,
    tdee: float | None,
) -> None:
    data = {"user_id": str(user_id), "changed": changed, "bmr": bmr, "tdee": tdee}
    emit(session, event_type=BODY_METRICS_CHANGED, user_id=user_id, aggregatetype="body", data=data)


CALORIE_TARGET_CHANGED = PREFIX + "CalorieTargetChanged"
GOAL_SET = PREFIX + "GoalSet"


def calorie_target_changed(
    session: AsyncSession,
    user_id: uuid.UUID,
    old: float | None,
    new: float | None,
    source: str,
) -> None:
    data = {"user_id": str(user_id), "old": old, "new": new, "source": source}
    emit(
        session,
        event_type=CALORIE_TARGET_CHANGED,
        user_id=user_id,
        aggregatetype="target",
        data=data,
    )


def goal_set(session: AsyncSession, user_id: uuid.UUID, goal: dict[str, object]) -> None:
    """``goal``: the goal's fields as JSON values (target weight included: the user set it)."""
    data = {"user_id": str(user_id), **goal}
    emit(session, event_type=GOAL_SET, user_id=user_id, aggregatetype="goal", data=data)
