"""Follow, follow request and mute rows with their events, and the follow counts they keep.
The rules (who may follow whom) live in ``follows``, ``follow_requests`` and ``mutes``; blocks
and deletions use this module directly.

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
from profilestore.domains.social.follow_models import Follow, FollowCounts, FollowRequest, Mute
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


async def add_many(
    session: AsyncSession, followers: list[uuid.UUID], followed: uuid.UUID
) -> list[Follow]:
    """New follows of ``followed`` (accepted requests: none of them follows yet), with their
    events and one count change per user."""
    now = utcnow()
    made = [Follow(user_id=f, followed_user_id=followed, created_at=now) for f in followers]
    session.add_all(made)
    await session.flush()
    changes: CountChanges = {follower: {"following_count": 1} for follower in followers}
    changes[followed] = {"followers_count": len(followers)}
    await adjust_counts(session, changes)
    for follower in followers:
        events.follow_event(session, events.USER_FOLLOWED, follower, followed)
    return made


async def remove_both_ways(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    """A block between ``a`` and ``b``: neither follows the other any more, nor asks to. The
    rows go before any count changes, so the counts are still locked last, in user-id order."""
    changes: CountChanges = defaultdict(dict)
    for follower, followed in ((a, b), (b, a)):
        await remove_request(session, followed, follower, events.FOLLOW_REQUEST_CANCELED)
        for user_id, deltas in (await _delete_follow(session, follower, followed)).items():
            changes[user_id].update(deltas)
    await adjust_counts(session, changes)


async def find_request(
    session: AsyncSession, owner: uuid.UUID, requester: uuid.UUID
) -> FollowRequest | None:
    statement = select(FollowRequest).where(
        FollowRequest.user_id == owner, FollowRequest.requester_user_id == requester
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def add_request(
    session: AsyncSession, owner: uuid.UUID, requester: uuid.UUID
) -> FollowRequest:
    """A new request to follow ``owner`` (the caller holds the requester's lock and knows
    there is none yet), with its event."""
    request = FollowRequest(user_id=owner, requester_user_id=requester, created_at=utcnow())
    session.add(request)
    await session.flush()
    events.follow_request_event(session, events.FOLLOW_REQUESTED, owner, requester)
    return request


async def remove_request(
    session: AsyncSession, owner: uuid.UUID, requester: uuid.UUID, event_type: str
) -> bool:
    """Remove a pending request if there is one, with an event of ``event_type``."""
    removed = await remove_requests(session, owner, [requester])
    for gone in removed:
        events.follow_request_event(session, event_type, owner, gone)
    return bool(removed)


async def remove_requests(
    session: AsyncSession, owner: uuid.UUID, requesters: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Delete requests to ``owner`` (no events): the requesters whose request was there."""
    statement = delete(FollowRequest).where(
        FollowRequest.user_id == owner, FollowRequest.requester_user_id.in_(requesters)
    )
    result = await session.execute(statement.returning(FollowRequest.requester_user_id))
    return {requester for (requester,) in result}


async def requesters(session: AsyncSession, owner: uuid.UUID) -> list[uuid.UUID]:
    """Everyone with a pending request to follow ``owner``, in user-id order."""
    statement = (
        select(FollowRequest.requester_user_id)
        .where(FollowRequest.user_id == owner)
        .order_by(FollowRequest.requester_user_id)
    )
    return list((await session.execute(statement)).scalars())


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
    await _requests_deleted(session, user_id)


async def _requests_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove the requests to follow the user, and theirs to follow others (those others
    told: a FollowRequestCanceled keyed by each)."""
    await session.execute(delete(FollowRequest).where(FollowRequest.user_id == user_id))
    theirs = delete(FollowRequest).where(FollowRequest.requester_user_id == user_id)
    for (owner,) in await session.execute(theirs.returning(FollowRequest.user_id)):
        events.follow_request_event(session, events.FOLLOW_REQUEST_CANCELED, owner, user_id)
