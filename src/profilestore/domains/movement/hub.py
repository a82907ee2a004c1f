"""The movement section of the user's aggregate: the training profile."""

from __future__ import annotations

from typing import Any

from profilestore.domains.movement.models import MovementProfile
from profilestore.domains.movement.profile import movement_view
from profilestore.platform.hub import HubPart, HubRead


async def movement(read: HubRead) -> dict[str, Any] | None:
    row = await read.session.get(MovementProfile, read.user_id)
    return None if row is None else movement_view(row)


PART = HubPart("movement", movement)
