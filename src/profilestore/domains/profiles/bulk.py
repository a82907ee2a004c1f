"""Profiles as records, for operators moving them in bulk (``profilestore export profiles``).

A record is one profile as the admin listing shows it (the whole profile) plus ``addresses``:
its addresses as their owner reads them, oldest first. Presence is live state and is not
part of it. Records come in the listing's ``(updated_at, user_id)`` order, read a chunk at a
time (never the whole table in memory), in one read-only snapshot on PostgreSQL. On SQLite
each chunk is read on its own: a profile changed while the export runs moves behind the
position reached and comes again, newer (a later record of a user wins on import).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import admin
from profilestore.domains.profiles.models import Address
from profilestore.domains.profiles.schemas import Address as AddressOut
from profilestore.platform.db import Database

EXPORT_CHUNK = 500
"""Profiles read per query (with one query for their addresses)."""
_ADDRESS_COLUMNS = [Address.__table__.c[name] for name in AddressOut.model_fields]


async def records(db: Database, updated_since: dt.datetime | None) -> AsyncIterator[dict[str, Any]]:
    """Every profile updated at or after ``updated_since`` (None: all), as a record."""
    async with db.snapshot_session() as session, session.begin():
        after: admin.After | None = None
        while True:
            page = await admin.profiles_after(session, updated_since, after, EXPORT_CHUNK)
            owned = await _addresses_of(session, [profile["user_id"] for profile in page])
            for profile in page:
                yield {**profile, "addresses": owned.get(profile["user_id"], [])}
            if len(page) < EXPORT_CHUNK:
                return
            after = (page[-1]["updated_at"], page[-1]["user_id"])


async def _addresses_of(
    session: AsyncSession, owners: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The addresses of ``owners``, by owner, each list in the order the owner reads it."""
    if not owners:
        return {}
    statement = (
        select(*_ADDRESS_COLUMNS)
        .where(Address.user_id.in_(owners))
        .order_by(Address.user_id, Address.created_at, Address.id)
    )
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in await session.execute(statement):
        found.setdefault(row.user_id, []).append(dict(row._mapping))
    return found
