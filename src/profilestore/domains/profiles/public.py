"""What other domains (and the hub) may use of the profiles domain. Nothing else in
``profilestore.domains.profiles`` is imported from outside it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import audiences
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.presence_api import presence_of
from profilestore.domains.profiles.schemas import (
    PUBLIC_FIELDS,
    AvatarUrl,
    Locale,
    ProfileWrite,
    PublicProfile,
)
from profilestore.domains.profiles.service import (
    lock_owner,
    lock_owner_timezone,
    lock_profile,
    profile_exists,
    profile_timezone,
    put_profile,
    visible_reads,
)
from profilestore.domains.profiles.transitions import RESYNC, TransitionHub

__all__ = [
    "PUBLIC_FIELDS",
    "RESYNC",
    "AvatarUrl",
    "Locale",
    "ProfileWrite",
    "PublicProfile",
    "TransitionHub",
    "embedded_profiles",
    "is_private_account",
    "lock_owner",
    "lock_owner_timezone",
    "lock_profile",
    "presence_of",
    "profile_exists",
    "profile_timezone",
    "put_profile",
]


async def embedded_profiles(
    source: AsyncSession, user_ids: list[uuid.UUID], *, viewer: uuid.UUID
) -> dict[uuid.UUID, dict[str, Any]]:
    """What ``viewer`` may see of ``user_ids``' profiles (their audiences: the contacts' or
    the public view), by id: the one way any response embeds another user's profile. Every
    installed viewer filter applies (a user who blocks ``viewer`` is left out), whoever the
    caller is: the data appears in ``viewer``'s context (their contact list, say), so it
    follows ``viewer``'s rules."""
    if not user_ids:
        return {}
    found = await visible_reads().get_many(source, user_ids, viewer=viewer)
    return {row["user_id"]: audiences.row_view(row, full=False) for row in found}


async def is_private_account(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user's account is private (False when they have no profile)."""
    statement = select(Profile.private_account).where(Profile.user_id == user_id)
    return bool((await session.execute(statement)).scalar_one_or_none())
