"""What the command line (and other domains) may use of the nutrition domain."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import legacy_import, rollups
from profilestore.domains.nutrition.models import CalorieEvent, RollupZone
from profilestore.domains.nutrition.rollups import Rebuilt
from profilestore.domains.nutrition.schemas import (
    BodyWrite,
    CalorieWrite,
    EatingWrite,
    GoalWrite,
    WeightLog,
)
from profilestore.platform import owners

__all__ = [
    "BodyWrite",
    "CalorieWrite",
    "EatingWrite",
    "GoalWrite",
    "Rebuilt",
    "WeightLog",
    "ledger_owners",
    "legacy_import",
    "rebuild_rollups",
]


async def ledger_owners(session: AsyncSession) -> list[uuid.UUID]:
    """Every user with calorie events or rollups, in id order."""
    events = select(CalorieEvent.user_id).distinct()
    zones = select(RollupZone.user_id)
    statement = events.union(zones).order_by("user_id")
    return [row[0] for row in await session.execute(statement)]


async def rebuild_rollups(session: AsyncSession, user_id: uuid.UUID) -> Rebuilt | None:
    """Recount the user's rollups from their events in their profile's timezone (the profile
    locked meanwhile); what differed. None: no such profile."""
    exists, timezone = await owners.lock_owner_timezone(session, user_id)
    if not exists:
        return None
    return await rollups.rebuild(session, user_id, rollups.zone_name(timezone))
