"""The social section of the user's aggregate: how many contacts the user has, how many users
follow them and how many they follow (the kept counts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from profilestore.domains.social import follow_store
from profilestore.domains.social.models import Contact
from profilestore.platform.hub import HubPart, HubRead


async def social(read: HubRead) -> dict[str, Any] | None:
    statement = select(func.count()).where(Contact.user_id == read.user_id)
    count = (await read.session.execute(statement)).scalar_one()
    follows = await follow_store.counts(read.session, read.user_id)
    if not count and not any(follows.values()):
        return None
    return {"contacts_count": count, **follows}


PART = HubPart("social", social)
