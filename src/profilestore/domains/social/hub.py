"""The social section of the user's aggregate: how many contacts the user has."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from profilestore.domains.social.models import Contact
from profilestore.platform.hub import HubPart, HubRead


async def social(read: HubRead) -> dict[str, Any] | None:
    statement = select(func.count()).where(Contact.user_id == read.user_id)
    count = (await read.session.execute(statement)).scalar_one()
    return {"contacts_count": count} if count else None


PART = HubPart("social", social)
