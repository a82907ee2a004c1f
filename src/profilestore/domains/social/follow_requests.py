"""Follow requests to private accounts, the owner's side: list the pending requests, accept
(the follow is made, with its counts), decline, and remove a follower; and, when an account
turns public, every pending request accepted (the ``profile_changed`` hook). The requester's
side (asking, withdrawing) is ``follows.follow`` and ``follows.unfollow``.

Every write here locks the owner's profile row first. Accepting writes the follows before it
removes the requests: a follow's owner key waits for the requester's own writes, so a
requester withdrawing at that moment finishes first and the accept then finds the request
gone (409, nothing written) instead of the two waiting on each other."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import public as profiles
from profilestore.domains.social import events, follow_store
from profilestore.domains.social.follow_models import Follow, FollowRequest
from profilestore.domains.social.follows import follow_dict
from profilestore.platform.errors import ProblemError, not_found
from profilestore.platform.pagination import keyset_page

PRIVATE_ACCOUNT = "private_account"


async def _lock(session: AsyncSession, owner: uuid.UUID) -> None:
    if not await profiles.lock_owner(session, owner):
        raise not_found("profile")


async def list_requests(
    session: AsyncSession, owner: uuid.UUID, *, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of the pending requests to follow ``owner``, in requester-id order, each with
    the requester's public profile as the owner may see it."""
    statement = select(FollowRequest).where(FollowRequest.user_id == owner)
    page, next_cursor = await keyset_page(
        session, statement, FollowRequest.requester_user_id, cursor=cursor, limit=limit
    )
    if not page and cursor is None and not await profiles.profile_exists(session, owner):
        raise not_found("profile")
    ids = [row.requester_user_id for row in page]
    views = await profiles.embedded_profiles(session, ids, viewer=owner)
    items = [
        {"user_id": user, "created_at": row.created_at, "profile": views.get(user)}
        for user, row in zip(ids, page, strict=True)
    ]
    return {"items": items, "next_cursor": next_cursor}


async def accept(
    session: AsyncSession, owner: uuid.UUID, requester: uuid.UUID
) -> tuple[dict[str, Any], bool]:
    """Accept ``requester``'s pending request: their follow of the owner, True. An existing
    follow is answered as it is (False); with neither, a 404."""
    await _lock(session, owner)
    existing = await follow_store.find(session, requester, owner)
    if existing is not None:
        return follow_dict(existing), False
    if await follow_store.find_request(session, owner, requester) is None:
        raise not_found("follow request")
    (made,) = await _accept_all(session, owner, [requester])
    return follow_dict(made), True


async def _accept_all(
    session: AsyncSession, owner: uuid.UUID, requesters: list[uuid.UUID]
) -> list[Follow]:
    """Turn the requests into follows (counts and events, a FollowRequestAccepted each)."""
    made = await follow_store.add_many(session, requesters, owner)
    if await follow_store.remove_requests(session, owner, requesters) != set(requesters):
        raise ProblemError(409, "conflict", "A follow request was withdrawn meanwhile: retry.")
    for requester in requesters:
        events.follow_request_event(session, events.FOLLOW_REQUEST_ACCEPTED, owner, requester)
    return made


async def decline(session: AsyncSession, owner: uuid.UUID, requester: uuid.UUID) -> bool:
    """Decline ``requester``'s pending request; True if there was one."""
    await _lock(session, owner)
    return await follow_store.remove_request(
        session, owner, requester, events.FOLLOW_REQUEST_DECLINED
    )


async def remove_follower(session: AsyncSession, owner: uuid.UUID, follower: uuid.UUID) -> bool:
    """Stop ``follower`` following the owner (their UserUnfollowed, and the owner's
    FollowerRemoved); True if they followed."""
    await _lock(session, owner)
    removed = await follow_store.remove(session, follower, owner)
    if removed:
        events.follower_removed_event(session, owner, follower)
    return removed


async def profile_changed(
    session: AsyncSession, profile: dict[str, Any], changed: list[str]
) -> None:
    """An account that turned public accepts every pending request (in the transaction of
    the profile update, which holds the owner's lock)."""
    if PRIVATE_ACCOUNT not in changed or profile.get(PRIVATE_ACCOUNT):
        return
    owner = uuid.UUID(str(profile["user_id"]))
    requesters = await follow_store.requesters(session, owner)
    if requesters:
        await _accept_all(session, owner, requesters)
