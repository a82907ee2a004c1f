"""The eating profile, which also carries the calorie target (an override, or derived)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import targets
from profilestore.domains.nutrition.models import Eating
from profilestore.domains.nutrition.schemas import EatingWrite
from profilestore.platform import owners
from profilestore.platform.conditional import check_if_match_tag, etag
from profilestore.platform.db import utcnow
from profilestore.platform.errors import not_found
from profilestore.platform.schemas import patched

FIELDS = tuple(EatingWrite.model_fields)


async def eating_view(session: AsyncSession, row: Eating) -> dict[str, Any]:
    return {
        "user_id": str(row.user_id),
        **{name: getattr(row, name) for name in FIELDS},
        **await targets.current(session, row.user_id),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
    }


async def get_eating(session: AsyncSession, user_id: uuid.UUID) -> Eating:
    row = await session.get(Eating, user_id)
    if row is None:
        raise not_found("eating profile")
    return row


async def _lock(session: AsyncSession, user_id: uuid.UUID) -> Eating | None:
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    return await session.get(Eating, user_id)


async def put_eating(
    session: AsyncSession, user_id: uuid.UUID, data: EatingWrite, *, if_match: str | None
) -> tuple[Eating, bool]:
    row = await _lock(session, user_id)
    check_if_match_tag(session, if_match, etag(row.version) if row else None)
    return await _write(session, user_id, row, data), row is None


async def patch_eating(
    session: AsyncSession, user_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> Eating:
    row = await _lock(session, user_id)
    if row is None:
        raise not_found("eating profile")
    check_if_match_tag(session, if_match, etag(row.version))
    current = {name: getattr(row, name) for name in FIELDS}
    return await _write(session, user_id, row, patched(EatingWrite, current, patch))


async def _write(
    session: AsyncSession, user_id: uuid.UUID, row: Eating | None, data: EatingWrite
) -> Eating:
    columns = data.columns()
    if row is not None and all(getattr(row, k) == v for k, v in columns.items()):
        return row
    now = utcnow()
    if row is None:
        row = Eating(user_id=user_id, created_at=now, version=0)
        session.add(row)
    for name, value in columns.items():
        setattr(row, name, value)
    row.updated_at = now
    row.version += 1
    await targets.refresh(session, user_id)
    return row
