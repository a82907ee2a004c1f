"""Username rules beyond uniqueness: reserved names, names held for their former owner, and
at most one change per period (admins exempt). Usernames are stored lower-case, so every
comparison here is case-insensitive. Functions take a session and never commit."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles.username_models import UsernameChange, UsernameHold
from profilestore.platform.audit import actor_of
from profilestore.platform.db import utcnow
from profilestore.platform.errors import ProblemError, invalid
from profilestore.platform.uow import SETTINGS
from profilestore.settings import RESERVED_USERNAMES, Settings

EXEMPT_ROLES = frozenset({"admin"})


def reserved_names(settings: Settings | None) -> frozenset[str]:
    """The names nobody may claim: ``reserved_usernames`` plus the operator's file."""
    if settings is None:
        return frozenset(RESERVED_USERNAMES)
    return _reserved(tuple(settings.reserved_usernames), settings.reserved_usernames_file)


@functools.cache
def _reserved(names: tuple[str, ...], path: Path | None) -> frozenset[str]:
    extra = _read_names(path) if path is not None else []
    return frozenset(name.lower() for name in (*names, *extra))


def _read_names(path: Path) -> list[str]:
    """One name a line; blank lines and ``#`` comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


async def check_claim(session: AsyncSession, username: str, claimant: uuid.UUID) -> None:
    """Refuse a reserved name (422) or one held for someone else (409)."""
    settings = session.info.get(SETTINGS)
    if username.lower() in reserved_names(settings):
        raise invalid("body.username", "this username is reserved", "username_reserved")
    hold = await _hold_of(session, username.lower())
    if hold is not None and hold.user_id != claimant and hold.held_until > utcnow():
        raise ProblemError(
            409,
            "username-held",
            "That username was recently given up by its owner and is held for them until "
            f"{hold.held_until.isoformat()}.",
        )


async def record_change(session: AsyncSession, user_id: uuid.UUID, old: str, new: str) -> None:
    """The user's username goes from ``old`` to ``new``: enforce the change period, release
    ``new`` from any hold (theirs, or an expired one) and hold ``old`` for them."""
    now = utcnow()
    taking_back = await _holds(session, user_id, new)
    if not taking_back:
        await _check_period(session, user_id, now)
    await session.execute(delete(UsernameHold).where(UsernameHold.username == new.lower()))
    await _hold(session, user_id, old.lower(), now)
    if not taking_back:
        await session.merge(UsernameChange(user_id=user_id, changed_at=now))


async def forget(session: AsyncSession, user_id: uuid.UUID) -> None:
    """On deletion and erasure: the user's holds are released and their change time removed."""
    await session.execute(delete(UsernameHold).where(UsernameHold.user_id == user_id))
    await session.execute(delete(UsernameChange).where(UsernameChange.user_id == user_id))


async def _hold_of(session: AsyncSession, username: str) -> UsernameHold | None:
    statement = select(UsernameHold).where(UsernameHold.username == username)
    return (await session.execute(statement)).scalar_one_or_none()


async def _holds(session: AsyncSession, user_id: uuid.UUID, username: str) -> bool:
    hold = await _hold_of(session, username.lower())
    return hold is not None and hold.user_id == user_id and hold.held_until > utcnow()


async def _hold(session: AsyncSession, user_id: uuid.UUID, username: str, now: dt.datetime) -> None:
    settings = session.info.get(SETTINGS)
    days = settings.username_hold_days if settings is not None else 30
    if days == 0:
        return
    await session.execute(delete(UsernameHold).where(UsernameHold.username == username))
    session.add(
        UsernameHold(user_id=user_id, username=username, held_until=now + dt.timedelta(days=days))
    )
    await session.flush()


async def _check_period(session: AsyncSession, user_id: uuid.UUID, now: dt.datetime) -> None:
    settings = session.info.get(SETTINGS)
    days = settings.username_change_days if settings is not None else 30
    if days == 0 or EXEMPT_ROLES & set(actor_of(session).roles):
        return
    last = await session.get(UsernameChange, user_id)
    if last is None or last.changed_at <= now - dt.timedelta(days=days):
        return
    allowed_at = last.changed_at + dt.timedelta(days=days)
    raise ProblemError(
        429,
        "username-change-too-soon",
        f"A username may change once every {days} days; the next change is allowed from "
        f"{allowed_at.isoformat()}.",
        headers={"Retry-After": str(max(1, int((allowed_at - now).total_seconds())))},
    )
