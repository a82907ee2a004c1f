"""Rules of follows: who may follow whom (a private account is asked instead: a follow
request, which its owner accepts in ``follow_requests``), and the followers and following
lists as a viewer may see them. A follow write locks the follower's profile row first (as
every social write does), so concurrent follows by one user yield one row."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from profilestore.domains.profiles import public as profiles
from profilestore.domains.social import events, follow_store
from profilestore.domains.social.follow_models import Follow, FollowRequest, Mute
from profilestore.domains.social.service import blocks, not_blocked_by
from profilestore.platform.errors import ProblemError, invalid, not_found
from profilestore.platform.pagination import keyset_page

FOLLOWING = "following"
REQUESTED = "requested"


def follow_dict(follow: Follow | FollowRequest) -> dict[str, Any]:
    """The answer about a follow, or (``state`` requested) about a pending request."""
    if isinstance(follow, FollowRequest):
        return {
            "user_id": follow.requester_user_id,
            "followed_user_id": follow.user_id,
            "created_at": follow.created_at,
            "state": REQUESTED,
        }
    return {
        "user_id": follow.user_id,
        "followed_user_id": follow.followed_user_id,
        "created_at": follow.created_at,
        "state": FOLLOWING,
    }


async def follow(
    session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID
) -> tuple[dict[str, Any], bool]:
    """Follow ``followed`` (a profile that does not block the follower, else 404); True if
    the follow (or, for a private account, the request to follow) is new."""
    if follower == followed:
        raise invalid("path.followed_user_id", "must differ from user_id", "self")
    if not await profiles.lock_owner(session, follower):
        raise not_found("profile")
    if not await profiles.profile_exists(session, followed) or await blocks(
        session, followed, follower
    ):
        raise not_found("profile")
    if await blocks(session, follower, followed):
        raise ProblemError(409, "follow-blocked", "You block this user: unblock them first.")
    existing = await follow_store.find(session, follower, followed)
    if existing is not None:
        return follow_dict(existing), False
    if await profiles.is_private_account(session, followed):
        return await _request(session, follower, followed)
    return follow_dict(await follow_store.add(session, follower, followed)), True


async def _request(
    session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID
) -> tuple[dict[str, Any], bool]:
    pending = await follow_store.find_request(session, followed, follower)
    if pending is not None:
        return follow_dict(pending), False
    return follow_dict(await follow_store.add_request(session, followed, follower)), True


async def unfollow(session: AsyncSession, follower: uuid.UUID, followed: uuid.UUID) -> bool:
    """Unfollow, or withdraw a pending request to follow; True if there was either."""
    if not await profiles.lock_owner(session, follower):
        raise not_found("profile")
    canceled = await follow_store.remove_request(
        session, followed, follower, events.FOLLOW_REQUEST_CANCELED
    )
    return await follow_store.remove(session, follower, followed) or canceled


def _not_muted_by(viewer: uuid.UUID, user: InstrumentedAttribute[uuid.UUID]) -> ColumnElement[bool]:
    return ~exists().where(Mute.user_id == viewer, Mute.muted_user_id == user)


async def _check_list_access(
    session: AsyncSession, owner: uuid.UUID, viewer: uuid.UUID, *, privileged: bool
) -> None:
    """An owner who blocks the viewer (or has no profile) is a 404. A private account's lists
    are shown to its owner, admins and services, and its accepted followers; anyone else gets
    a 403 (that the account exists is public, through its username)."""
    if not await profiles.profile_exists(session, owner) or (
        viewer != owner and await blocks(session, owner, viewer)
    ):
        raise not_found("profile")
    if privileged or viewer == owner or not await profiles.is_private_account(session, owner):
        return
    if await follow_store.find(session, viewer, owner) is None:
        raise ProblemError(
            403, "private-account", "This account is private: only its followers see its lists."
        )


async def follow_list(
    session: AsyncSession,
    owner: uuid.UUID,
    *,
    direction: str,
    viewer: uuid.UUID,
    privileged: bool,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """A page of the owner's ``followers`` or ``following`` in user-id order, each with their
    public profile, and the owner's counts. Users who block the viewer, and users the viewer
    mutes, are left out (``privileged``: an admin's or a service's read)."""
    await _check_list_access(session, owner, viewer, privileged=privileged)
    mine, other = (
        (Follow.followed_user_id, Follow.user_id)
        if direction == "followers"
        else (Follow.user_id, Follow.followed_user_id)
    )
    statement = select(Follow).where(
        mine == owner, not_blocked_by(other, viewer), _not_muted_by(viewer, other)
    )
    page, next_cursor = await keyset_page(session, statement, other, cursor=cursor, limit=limit)
    ids = [getattr(row, other.key) for row in page]
    views = await profiles.embedded_profiles(session, ids, viewer=viewer)
    items = [
        {"user_id": user, "created_at": row.created_at, "profile": views.get(user)}
        for user, row in zip(ids, page, strict=True)
    ]
    counts = await follow_store.counts(session, owner)
    return {"items": items, "next_cursor": next_cursor, **counts}
