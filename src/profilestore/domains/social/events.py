"""Events of the social domain, keyed by the owner's user id. Nicknames and block reasons are
private to the owner and stay out of event payloads."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.events.outbox import emit

PREFIX = "profilestore.social."
CONTACT_ADDED = PREFIX + "ContactAdded"
CONTACT_UPDATED = PREFIX + "ContactUpdated"
CONTACT_REMOVED = PREFIX + "ContactRemoved"
USER_BLOCKED = PREFIX + "UserBlocked"
USER_UNBLOCKED = PREFIX + "UserUnblocked"
USER_FOLLOWED = PREFIX + "UserFollowed"
USER_UNFOLLOWED = PREFIX + "UserUnfollowed"
USER_MUTED = PREFIX + "UserMuted"
USER_UNMUTED = PREFIX + "UserUnmuted"
FOLLOW_REQUESTED = PREFIX + "FollowRequested"
FOLLOW_REQUEST_ACCEPTED = PREFIX + "FollowRequestAccepted"
FOLLOW_REQUEST_DECLINED = PREFIX + "FollowRequestDeclined"
FOLLOW_REQUEST_CANCELED = PREFIX + "FollowRequestCanceled"
FOLLOWER_REMOVED = PREFIX + "FollowerRemoved"


def contact_event(
    session: AsyncSession,
    event_type: str,
    owner: uuid.UUID,
    contact: uuid.UUID,
    is_favorite: bool | None = None,
) -> None:
    data: dict[str, object] = {"user_id": str(owner), "contact_user_id": str(contact)}
    if is_favorite is not None:
        data["is_favorite"] = is_favorite
    emit(session, event_type=event_type, user_id=owner, aggregatetype="contact", data=data)


def block_event(
    session: AsyncSession, event_type: str, owner: uuid.UUID, blocked: uuid.UUID
) -> None:
    data = {"user_id": str(owner), "blocked_user_id": str(blocked)}
    emit(session, event_type=event_type, user_id=owner, aggregatetype="block", data=data)


def follow_event(
    session: AsyncSession, event_type: str, follower: uuid.UUID, followed: uuid.UUID
) -> None:
    data = {"user_id": str(follower), "followed_user_id": str(followed)}
    emit(session, event_type=event_type, user_id=follower, aggregatetype="follow", data=data)


def mute_event(session: AsyncSession, event_type: str, owner: uuid.UUID, muted: uuid.UUID) -> None:
    data = {"user_id": str(owner), "muted_user_id": str(muted)}
    emit(session, event_type=event_type, user_id=owner, aggregatetype="mute", data=data)


def follow_request_event(
    session: AsyncSession, event_type: str, owner: uuid.UUID, requester: uuid.UUID
) -> None:
    """A request to follow ``owner`` (a private account) made, accepted, declined or canceled:
    keyed by the account asked."""
    data = {"user_id": str(owner), "requester_user_id": str(requester)}
    emit(session, event_type=event_type, user_id=owner, aggregatetype="follow_request", data=data)


def follower_removed_event(session: AsyncSession, owner: uuid.UUID, follower: uuid.UUID) -> None:
    data = {"user_id": str(owner), "follower_user_id": str(follower)}
    emit(session, event_type=FOLLOWER_REMOVED, user_id=owner, aggregatetype="follow", data=data)
