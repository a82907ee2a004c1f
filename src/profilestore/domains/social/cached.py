"""Block and contact reads through the cache: who blocks a viewer (the block rule of every
cached read of another user's data), the block check of a pair, and which owners have a viewer
among their contacts (the ``contacts`` audience). Block and contact writes mark these keys
stale."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, bindparam, or_, select

from profilestore.domains.social.models import Block, Contact
from profilestore.platform.cache import Cache
from profilestore.platform.db import Database
from profilestore.platform.jsonutil import dumps, loads
from profilestore.platform.reads import PreparedRead

_BLOCKERS = PreparedRead(select(Block.user_id).where(Block.blocked_user_id == bindparam("viewer")))
_PAIR = PreparedRead(
    select(Block.user_id).where(
        or_(
            and_(Block.user_id == bindparam("low"), Block.blocked_user_id == bindparam("high")),
            and_(Block.user_id == bindparam("high"), Block.blocked_user_id == bindparam("low")),
        )
    )
)

_CONTACT_OWNERS = PreparedRead(
    select(Contact.user_id).where(
        Contact.contact_user_id == bindparam("viewer"),
        Contact.user_id.in_(bindparam("owners", expanding=True)),
    )
)


def blockers_key(viewer: uuid.UUID) -> str:
    return f"blockers:{viewer.hex}"


def block_key(a: uuid.UUID, b: uuid.UUID) -> str:
    low, high = sorted((a, b))
    return f"blocks:{low.hex}:{high.hex}"


def stale_keys(owner: uuid.UUID, blocked: uuid.UUID) -> tuple[str, str]:
    """What a block of ``blocked`` by ``owner`` (made or removed) makes stale."""
    return block_key(owner, blocked), blockers_key(blocked)


async def blockers_of(db: Database, cache: Cache, viewer: uuid.UUID) -> frozenset[uuid.UUID]:
    """The users who block ``viewer`` (16 bytes each in the cache)."""

    async def load() -> bytes:
        rows = await _BLOCKERS.all(db, viewer=viewer)
        return b"".join(row["user_id"].bytes for row in rows)

    value, _ = await cache.read(blockers_key(viewer), load)
    return _users(value or b"")


def _users(value: bytes) -> frozenset[uuid.UUID]:
    if not value:
        return frozenset()
    return frozenset(uuid.UUID(bytes=value[i : i + 16]) for i in range(0, len(value), 16))


async def check(db: Database, cache: Cache, a: uuid.UUID, b: uuid.UUID) -> tuple[bool, bool]:
    """(a blocks b, b blocks a)."""
    low, high = sorted((a, b))

    async def load() -> bytes:
        owners = {row["user_id"] for row in await _PAIR.all(db, low=low, high=high)}
        return dumps([low in owners, high in owners])

    value, _ = await cache.read(block_key(low, high), load)
    low_blocks_high, high_blocks_low = loads(value or b"[false, false]")
    if a == low:
        return low_blocks_high, high_blocks_low
    return high_blocks_low, low_blocks_high


def contact_key(owner: uuid.UUID, other: uuid.UUID) -> str:
    """The cached answer to "does ``owner`` have ``other`` among their contacts?"."""
    return f"contact:{owner.hex}:{other.hex}"


async def contacts_among(
    db: Database, cache: Cache, viewer: uuid.UUID, owners: list[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Those of ``owners`` who have ``viewer`` among their contacts: one cache round trip,
    and one query for the pairs not cached."""
    others = [owner for owner in dict.fromkeys(owners) if owner != viewer]
    if not others:
        return frozenset()
    keys = {contact_key(owner, viewer): owner for owner in others}

    async def load(missing: list[str]) -> dict[str, bytes]:
        asked = [keys[key] for key in missing]
        rows = await _CONTACT_OWNERS.all(db, viewer=viewer, owners=asked)
        found = {row["user_id"] for row in rows}
        return {contact_key(owner, viewer): b"1" if owner in found else b"0" for owner in asked}

    values = await cache.read_many(list(keys), load)
    return frozenset(keys[key] for key, value in values.items() if value == b"1")
