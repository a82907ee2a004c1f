"""Follow and mute rows with their events, and the follow counts they keep. The rules (who may
follow whom) live in ``follows`` and ``mutes``; blocks and deletions use this module directly.

Counts change by an upsert adding a delta (``count = count + delta``), never by counting rows,
so concurrent follows of one user serialize on that user's count row and none is lost. A write
that changes several users' counts changes them in user-id order: two writes lock the same
rows in the same order and cannot deadlock."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.social import events
from profilestore.domains.social.follow_models import Follow, FollowCounts, Mute
from profilestore.platform.db import utcnow

CountChanges = dict[uuid.UUID, dict[str, int]]
"""Per user, the delta of ``followers_count`` and ``following_count``."""


async def find(session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID) -> Follow | None:
    statement = select(Follow).where(
        Follow.user_id == follower, Follow.followed_user_id == followed
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def add(session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID) -> Follow:
    """A new follow (the caller holds the follower's lock and knows there is none yet)."""
    follow = Follow(user_id=follower, followed_user_id=followed, created_at=utcnow())
    session.add(follow)
    await session.flush()
    await adjust_counts(session, _one_follow(follower, followed, +1))
    events.follow_event(session, events.USER_FOLLOWED, follower, followed)
    return follow


async def remove(session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID) -> bool:
    """Remove a follow if there is one, with its count changes and event."""
    changes = await _delete_follow(session, follower, followed)
    await adjust_counts(session, changes)
    return bool(changes)


async def remove_both_ways(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    """A block between ``a`` and ``b``: neither follows the other any more. Both rows go
    before any count changes, so the counts are still locked last, in user-id order."""
    changes: CountChanges = defaultdict(dict)
    for follower, followed in ((a, b), (b, a)):
        for user_id, deltas in (await _delete_follow(session, follower, followed)).items():
            changes[user_id].update(deltas)
    await adjust_counts(session, changes)


async def _delete_follow(
    session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID
) -> CountChanges:
    """Delete a follow with its event; the count changes it calls for (none if absent)."""
    result = await session.execute(
        delete(Follow).where(Follow.user_id == follower, Follow.followed_user_id == followed)
    )
    if not getattr(result, "rowcount", 0):
        return {}
    events.follow_event(session, events.USER_UNFOLLOWED, follower, followed)
    return _one_follow(follower, followed, -1)


def _one_follow(follower: uuid.UUID, followed: uuid.UUID, delta: int) -> CountChanges:
    return {follower: {"following_count": delta}, followed: {"followers_count": delta}}


async def adjust_counts(session: AsyncSession, changes: CountChanges) -> None:
    """Add ``changes`` to the users' counts, one upsert per user, in user-id order."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    columns = FollowCounts.__table__.c
    for user_id in sorted(changes):
        deltas = {"followers_count": 0, "following_count": 0, **changes[user_id]}
        first = {name: max(delta, 0) for name, delta in deltas.items()}
        statement = dialect.insert(FollowCounts).values(user_id=user_id, **first)
        statement = statement.on_conflict_do_update(
            index_elements=[columns.user_id],
            set_={name: columns[name] + delta for name, delta in deltas.items() if delta},
        )
        await session.execute(statement)


async def counts(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    statement = select(FollowCounts).where(FollowCounts.user_id == user_id)
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        return {"followers_count": 0, "following_count": 0}
    return {"followers_count": row.followers_count, "following_count": row.following_count}


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove the user's follows and mutes, and every follow and mute of them; the other users
    are told (an event keyed by each of them) and their counts fixed, in this transaction."""
    changes: CountChanges = defaultdict(dict)
    own = delete(Follow).where(Follow.user_id == user_id).returning(Follow.followed_user_id)
    for (followed,) in await session.execute(own):
        changes[followed]["followers_count"] = -1
    of_them = delete(Follow).where(Follow.followed_user_id == user_id).returning(Follow.user_id)
    for (follower,) in await session.execute(of_them):
        changes[follower]["following_count"] = -1
        events.follow_event(session, events.USER_UNFOLLOWED, follower, user_id)
    changes.pop(user_id, None)
    await session.execute(delete(FollowCounts).where(FollowCounts.user_id == user_id))
    await adjust_counts(session, changes)
    await session.execute(delete(Mute).where(Mute.user_id == user_id))
    muters = delete(Mute).where(Mute.muted_user_id == user_id).returning(Mute.user_id)
    for (muter,) in await session.execute(muters):
        events.mute_event(session, events.USER_UNMUTED, muter, user_id)
