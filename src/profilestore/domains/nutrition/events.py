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


CALORIES_LOGGED = PREFIX + "CaloriesLogged"
CALORIE_ENTRY_CHANGED = PREFIX + "CalorieEntryChanged"


def calories_logged(
    session: AsyncSession, user_id: uuid.UUID, count: dict[str, int], kcal: dict[str, float]
) -> None:
    """One event per logged batch: counts and kcal per kind (not one event per row)."""
    data = {"user_id": str(user_id), "count": count, "kcal": kcal}
    emit(session, event_type=CALORIES_LOGGED, user_id=user_id, aggregatetype="calories", data=data)


def calorie_entry_changed(
    session: AsyncSession,
    user_id: uuid.UUID,
    event_id: uuid.UUID,
    action: str,
    before: tuple[str, float],
    after: tuple[str, float] | None,
) -> None:
    """A logged event corrected or removed: its kind and kcal before and after."""
    data: dict[str, object] = {
        "user_id": str(user_id),
        "event_id": str(event_id),
        "action": action,
        "before": {"kind": before[0], "kcal": before[1]},
        "after": {"kind": after[0], "kcal": after[1]} if after else None,
    }
    emit(
        session,
        event_type=CALORIE_ENTRY_CHANGED,
        user_id=user_id,
        aggregatetype="calories",
        data=data,
    )
