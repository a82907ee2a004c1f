"""Rules of the social domain. Every write first locks the owner's profile row, which orders a
user's writes (and their events) and makes concurrent adds of one contact yield one row."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import public as profiles
from profilestore.domains.social import cached, events, follow_store
from profilestore.domains.social.models import Block, Contact
from profilestore.domains.social.schemas import BlockWrite, ContactWrite
from profilestore.platform.cache import mark_stale
from profilestore.platform.conditional import check_if_match_tag, content_tag, if_match_required
from profilestore.platform.db import utcnow
from profilestore.platform.errors import ProblemError, invalid, not_found
from profilestore.platform.pagination import keyset_page
from profilestore.platform.schemas import patched

_CONTACT_FIELDS = (
    "user_id",
    "contact_user_id",
    "nickname",
    "is_favorite",
    "created_at",
    "updated_at",
    "version",
)
_BLOCK_FIELDS = ("user_id", "blocked_user_id", "reason", "created_at")


def not_blocked_by(owner: Any, viewer: uuid.UUID | ColumnElement[Any]) -> ColumnElement[bool]:
    """A filter for queries over another domain's rows: hide owners who block the viewer
    (correlated to the owner's row at any depth of subqueries)."""
    return ~exists().where(
        Block.user_id == owner, Block.blocked_user_id == viewer
    ).correlate_except(Block)


def is_contact(owner: Any, other: Any) -> ColumnElement[bool]:
    """A condition for queries over another domain's rows: ``owner`` has ``other`` among
    their contacts (the ``contacts`` audience), correlated to the rows of ``owner`` and
    ``other`` at any depth of subqueries (SQLAlchemy's automatic correlation looks only at
    the SELECT right around it)."""
    found = exists().where(Contact.user_id == owner, Contact.contact_user_id == other)
    return found.correlate_except(Contact)


async def blocks(session: AsyncSession, owner: uuid.UUID, other: uuid.UUID) -> bool:
    statement = select(Block.user_id).where(Block.user_id == owner, Block.blocked_user_id == other)
    return (await session.execute(statement)).first() is not None


async def check(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> tuple[bool, bool]:
    """(a blocks b, b blocks a) in one indexed query (two primary-key probes)."""
    statement = select(Block.user_id).where(
        or_(
            and_(Block.user_id == a, Block.blocked_user_id == b),
            and_(Block.user_id == b, Block.blocked_user_id == a),
        )
    )
    owners = {row.user_id for row in await session.execute(statement)}
    return a in owners, b in owners


def _refuse_self(owner: uuid.UUID, other: uuid.UUID, field: str) -> None:
    if owner == other:
        raise invalid(f"path.{field}", "must differ from user_id", "self")


async def _lock_owner(session: AsyncSession, owner: uuid.UUID) -> None:
    if await profiles.lock_profile(session, owner) is None:
        raise not_found("profile")


async def _require_visible_profile(
    session: AsyncSession, owner: uuid.UUID, other: uuid.UUID
) -> None:
    """The other user must have a profile, and must not block the owner (else: as if absent)."""
    if not await profiles.profile_exists(session, other) or await blocks(session, other, owner):
        raise not_found("profile")


def _contact_dict(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in _CONTACT_FIELDS}


async def _get_contact(session: AsyncSession, owner: uuid.UUID, other: uuid.UUID) -> Contact | None:
    statement = select(Contact).where(Contact.user_id == owner, Contact.contact_user_id == other)
    return (await session.execute(statement)).scalar_one_or_none()


async def put_contact(
    session: AsyncSession,
    owner: uuid.UUID,
    other: uuid.UUID,
    data: ContactWrite,
    *,
    if_match: str | None = None,
) -> tuple[dict[str, Any], bool]:
    _refuse_self(owner, other, "contact_user_id")
    await _lock_owner(session, owner)
    await _require_visible_profile(session, owner, other)
    if await blocks(session, owner, other):
        raise ProblemError(409, "contact-blocked", "You block this user: unblock them first.")
    contact = await _get_contact(session, owner, other)
    await _check_if_match(session, if_match, contact)
    now = utcnow()
    if contact is None:
        contact = Contact(
            user_id=owner,
            contact_user_id=other,
            **data.model_dump(),
            created_at=now,
            updated_at=now,
            version=1,
        )
        session.add(contact)
        await session.flush()
        mark_stale(session, cached.contact_key(owner, other))
        events.contact_event(session, events.CONTACT_ADDED, owner, other, contact.is_favorite)
        return _contact_dict(contact), True
    return await _update_contact(session, contact, data), False


async def get_contact(
    session: AsyncSession, owner: uuid.UUID, other: uuid.UUID
) -> dict[str, Any] | None:
    """One contact with its profile; None if absent or if the contact blocks the owner."""
    contact = await _get_contact(session, owner, other)
    if contact is None or await blocks(session, other, owner):
        return None
    (found,) = await with_profiles(session, [_contact_dict(contact)])
    return found


async def _check_if_match(
    session: AsyncSession, header: str | None, contact: Contact | None
) -> None:
    """A contact's ETag covers its embedded profile (``content_tag`` of the representation),
    so it is only computed when a precondition needs it."""
    if header is None and (contact is None or not if_match_required(session)):
        return
    current = None
    if contact is not None:
        (representation,) = await with_profiles(session, [_contact_dict(contact)])
        current = content_tag(representation)
    check_if_match_tag(session, header, current)


async def patch_contact(
    session: AsyncSession,
    owner: uuid.UUID,
    other: uuid.UUID,
    patch: dict[str, Any],
    *,
    if_match: str | None = None,
) -> dict[str, Any]:
    await _lock_owner(session, owner)
    contact = await _get_contact(session, owner, other)
    if contact is None or await blocks(session, other, owner):
        raise not_found("contact")
    await _check_if_match(session, if_match, contact)
    current = {"nickname": contact.nickname, "is_favorite": contact.is_favorite}
    data = patched(ContactWrite, current, patch)
    return await _update_contact(session, contact, data)


async def _update_contact(
    session: AsyncSession, contact: Contact, data: ContactWrite
) -> dict[str, Any]:
    values = data.model_dump()
    changed = [name for name, value in values.items() if getattr(contact, name) != value]
    if changed:
        for name in changed:
            setattr(contact, name, values[name])
        contact.updated_at = utcnow()
        contact.version += 1
        await session.flush()
        events.contact_event(
            session,
            events.CONTACT_UPDATED,
            contact.user_id,
            contact.contact_user_id,
            contact.is_favorite,
        )
    return _contact_dict(contact)


async def delete_contact(
    session: AsyncSession, owner: uuid.UUID, other: uuid.UUID, *, if_match: str | None = None
) -> bool:
    await _lock_owner(session, owner)
    if if_match is not None or if_match_required(session):
        await _check_if_match(session, if_match, await _get_contact(session, owner, other))
    return await _remove_contact(session, owner, other)


async def _remove_contact(session: AsyncSession, owner: uuid.UUID, other: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Contact).where(Contact.user_id == owner, Contact.contact_user_id == other)
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        mark_stale(session, cached.contact_key(owner, other))
        events.contact_event(session, events.CONTACT_REMOVED, owner, other)
    return removed


async def list_contacts(
    session: AsyncSession,
    owner: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    favorite: bool | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page in contact-id order; contacts who block the owner are left out. Each contact's
    public profile comes from one batch query (no N+1)."""
    statement = select(Contact).where(
        Contact.user_id == owner, not_blocked_by(Contact.contact_user_id, owner)
    )
    if favorite is not None:
        statement = statement.where(Contact.is_favorite.is_(favorite))
    page, next_cursor = await keyset_page(
        session, statement, Contact.contact_user_id, cursor=cursor, limit=limit
    )
    if not page and cursor is None and not await profiles.profile_exists(session, owner):
        raise not_found("profile")
    return await with_profiles(session, [_contact_dict(c) for c in page]), next_cursor


async def with_profiles(
    session: AsyncSession, contacts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Contacts, each with the contact's public profile as their owner may see it (``None``
    when the contact has no profile, or blocks the owner)."""
    if not contacts:
        return []
    owner = contacts[0]["user_id"]
    views = await profiles.embedded_profiles(
        session, [c["contact_user_id"] for c in contacts], viewer=owner
    )
    return [{**c, "profile": views.get(c["contact_user_id"])} for c in contacts]


async def put_block(
    session: AsyncSession, owner: uuid.UUID, other: uuid.UUID, data: BlockWrite
) -> tuple[dict[str, Any], bool]:
    """Block ``other``; also removes them from the owner's contacts and the follows between
    them both ways. Any user id can be blocked, with or without a profile (a block made in
    advance holds when they sign up), so the answer says nothing about whether ``other``
    exists."""
    _refuse_self(owner, other, "blocked_user_id")
    await _lock_owner(session, owner)
    statement = select(Block).where(Block.user_id == owner, Block.blocked_user_id == other)
    block = (await session.execute(statement)).scalar_one_or_none()
    if block is not None:
        block.reason = data.reason
        await session.flush()
        return _block_dict(block), False
    block = Block(user_id=owner, blocked_user_id=other, reason=data.reason, created_at=utcnow())
    session.add(block)
    mark_stale(session, *cached.stale_keys(owner, other))
    await _remove_contact(session, owner, other)
    await follow_store.remove_both_ways(session, owner, other)
    await session.flush()
    events.block_event(session, events.USER_BLOCKED, owner, other)
    return _block_dict(block), True


async def delete_block(session: AsyncSession, owner: uuid.UUID, other: uuid.UUID) -> bool:
    await _lock_owner(session, owner)
    result = await session.execute(
        delete(Block).where(Block.user_id == owner, Block.blocked_user_id == other)
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        mark_stale(session, *cached.stale_keys(owner, other))
        events.block_event(session, events.USER_UNBLOCKED, owner, other)
    return removed


async def list_blocks(
    session: AsyncSession, owner: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    statement = select(Block).where(Block.user_id == owner)
    page, next_cursor = await keyset_page(
        session, statement, Block.blocked_user_id, cursor=cursor, limit=limit
    )
    if not page and cursor is None and not await profiles.profile_exists(session, owner):
        raise not_found("profile")
    return [_block_dict(b) for b in page], next_cursor


def _block_dict(block: Block) -> dict[str, Any]:
    return {name: getattr(block, name) for name in _BLOCK_FIELDS}


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A profile is being deleted: remove the user's own contacts, blocks, follows and mutes,
    and every other user's contact, block, follow and mute of them, each removal with its
    event (keyed by the owner of the removed row), in the deleting transaction."""
    own_contacts = delete(Contact).where(Contact.user_id == user_id)
    for (other,) in await session.execute(own_contacts.returning(Contact.contact_user_id)):
        mark_stale(session, cached.contact_key(user_id, other))
    own_blocks = delete(Block).where(Block.user_id == user_id).returning(Block.blocked_user_id)
    for (blocked,) in await session.execute(own_blocks):
        mark_stale(session, *cached.stale_keys(user_id, blocked))
    contacts = delete(Contact).where(Contact.contact_user_id == user_id)
    for (owner,) in await session.execute(contacts.returning(Contact.user_id)):
        mark_stale(session, cached.contact_key(owner, user_id))
        events.contact_event(session, events.CONTACT_REMOVED, owner, user_id)
    blocked = delete(Block).where(Block.blocked_user_id == user_id)
    for (owner,) in await session.execute(blocked.returning(Block.user_id)):
        mark_stale(session, *cached.stale_keys(owner, user_id))
        events.block_event(session, events.USER_UNBLOCKED, owner, user_id)
    await follow_store.user_deleted(session, user_id)
