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
