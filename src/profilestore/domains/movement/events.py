"""Events of the movement domain, keyed by the user id."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.events.outbox import emit

PREFIX = "profilestore.movement."
MOVEMENT_PROFILE_CHANGED = PREFIX + "MovementProfileChanged"


def movement_profile_changed(
    session: AsyncSession,
    user_id: uuid.UUID,
    profile: dict[str, Any] | None,
    changed: list[str],
) -> None:
    """``profile``: the profile as written (None: removed with the user's profile)."""
    data = {"user_id": str(user_id), "changed": changed, "profile": profile}
    emit(
        session,
        event_type=MOVEMENT_PROFILE_CHANGED,
        user_id=user_id,
        aggregatetype="movement",
        data=data,
    )
