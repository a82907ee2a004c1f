"""The owner directory: whether a user is known here, the row a write locks so that one user's
writes run one at a time, and the user's timezone (nutrition buckets calories in it).

Domains ask it through the functions below and never query another domain's tables. Where the
profiles domain is installed it provides the directory through its descriptor
(``Domain.owners``): the profile row is the anchor, a user without one is a 404, and the
timezone is the profile's. A process serving domains without profiles (a split deployment,
docs/federation.md) uses the platform's own directory, the ``owners`` table:

- a write upserts and locks the user's owner row (a split service trusts that identity made
  the user: the caller's token already passed the route's access rule);
- a user is always known, so a read of a user with nothing here answers as for any user with
  no data (an empty list, a 404 of the resource), never a 404 of the profile or a 500;
- the timezone is ``owners.timezone``, set by ``PUT /v1/owners/{user_id}`` (by whatever
  follows identity's changes), which runs every installed domain's ``profile_changed`` hook
  when it changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Integer, String, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime, utcnow

Known = Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]
Zoned = Callable[[AsyncSession, uuid.UUID], Awaitable[tuple[bool, str | None]]]


@dataclass(frozen=True)
class OwnerDirectory:
    """``exists``: whether the user is known (no lock: reads). ``lock``: lock the user's anchor
    for the rest of the transaction; False: unknown user. ``lock_timezone``: ``lock`` plus the
    user's timezone. ``timezone``: ``exists`` plus the timezone."""

    exists: Known
    lock: Known
    lock_timezone: Zoned
    timezone: Zoned


class Owner(Base):
    """A user this database holds data of, where the profiles domain is not installed."""

    __tablename__ = "owners"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


async def locked_owner(session: AsyncSession, user_id: uuid.UUID) -> Owner:
    """The user's owner row, made if missing, locked for the rest of the transaction."""
    statement = select(Owner).where(Owner.user_id == user_id).with_for_update()
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is not None:
        return row
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    now = utcnow()
    insert = (sqlite if on_sqlite else postgresql).insert(Owner)
    await session.execute(
        insert.values(
            user_id=user_id, timezone=None, created_at=now, updated_at=now, version=1
        ).on_conflict_do_nothing(index_elements=[Owner.user_id])
    )
    return (await session.execute(statement)).scalar_one()


async def _known(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return True


async def _lock(session: AsyncSession, user_id: uuid.UUID) -> bool:
    await locked_owner(session, user_id)
    return True


async def _lock_timezone(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, str | None]:
    return True, (await locked_owner(session, user_id)).timezone


async def _timezone(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, str | None]:
    statement = select(Owner.timezone).where(Owner.user_id == user_id)
    return True, (await session.execute(statement)).scalar_one_or_none()


PLATFORM_DIRECTORY = OwnerDirectory(
    exists=_known, lock=_lock, lock_timezone=_lock_timezone, timezone=_timezone
)
"""The directory of a process without the profiles domain, on the ``owners`` table."""

_current: list[OwnerDirectory] = [PLATFORM_DIRECTORY]


def use(directory: OwnerDirectory | None) -> None:
    """Make ``directory`` (None: the platform's own) the one every domain asks; the registry
    calls it when it installs the domains."""
    _current[:] = [directory or PLATFORM_DIRECTORY]


def directory() -> OwnerDirectory:
    return _current[0]


def uses_platform_directory() -> bool:
    return directory() is PLATFORM_DIRECTORY


def identity_elsewhere() -> bool:
    """True in a process without the profiles domain: identity (profiles, usernames) is
    served by another service, and nothing here may read or embed it."""
    return uses_platform_directory()


async def owner_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether ``user_id`` is a user here (a read with no lock)."""
    return await _current[0].exists(session, user_id)


async def lock_owner(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Lock the user's anchor for the rest of the transaction; False: no such user."""
    return await _current[0].lock(session, user_id)


async def lock_owner_timezone(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, str | None]:
    """``lock_owner``, and the user's timezone (None: not set)."""
    return await _current[0].lock_timezone(session, user_id)


async def owner_timezone(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, str | None]:
    """Whether the user is known, and their timezone (no lock: for reads)."""
    return await _current[0].timezone(session, user_id)
