"""Profile reads through the cache: one entry per profile holding its three representations
(the whole profile, the contacts' view and the public view, ``audiences.py``) already encoded,
each with its ETag, and whether each audience sees the owner's presence, so a hit costs no
database, no model and no JSON encoding. Writes mark ``profile_key`` stale (service.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from profilestore.domains.profiles import audiences
from profilestore.domains.profiles.audiences import Reach
from profilestore.domains.profiles.service import PROFILES, profile_key
from profilestore.platform.cache import Cache
from profilestore.platform.conditional import etag, short_digest
from profilestore.platform.db import Database
from profilestore.platform.jsonutil import dumps

SEPARATOR = b"\x1f"
"""Between the parts of an entry: JSON escapes control characters, so no body contains it."""


@dataclass(frozen=True, slots=True)
class Representation:
    tag: str
    body: bytes


SHARED_REACHES: tuple[Reach, ...] = ("contacts", "public")
OUTSIDE = ("status", "last_seen")
"""Fields kept outside the profile (the presence's) whose audience the entry records."""


def encode(profile: dict[str, Any]) -> bytes:
    version = profile["version"]
    parts = [etag(version).encode(), dumps(audiences.view(profile, "full"))]
    for reach in SHARED_REACHES:
        body = dumps(audiences.view(profile, reach))
        parts += [f'"{version}-{reach}-{short_digest(body)}"'.encode(), body]
    shown = [audiences.shows(profile, name, r) for name in OUTSIDE for r in SHARED_REACHES]
    parts.append(b"".join(b"1" if flag else b"0" for flag in shown))
    return SEPARATOR.join(parts)


def view(entry: bytes, reach: Reach) -> Representation:
    """The representation a viewer of ``reach`` gets, with its own ETag."""
    parts = entry.split(SEPARATOR)
    index = 0 if reach == "full" else 2 + 2 * SHARED_REACHES.index(reach)
    return Representation(parts[index].decode(), parts[index + 1])


def shows(entry: bytes, name: str, reach: Reach) -> bool:
    """Whether a viewer of ``reach`` sees ``name`` (one of ``OUTSIDE``) of the owner."""
    if reach == "full":
        return True
    flags = entry.rsplit(SEPARATOR, 1)[1]
    return flags[OUTSIDE.index(name) * len(SHARED_REACHES) + SHARED_REACHES.index(reach)] == 49


ABSENT = b""
"""The entry of a user without a profile (cached too: creating the profile drops it)."""


async def read_profile(db: Database, cache: Cache, user_id: uuid.UUID) -> tuple[bytes | None, bool]:
    """The cache entry of ``user_id``'s profile (None: no profile) and whether it was a hit."""

    async def load() -> bytes:
        row = await db.batcher("profiles", partial(_load_many, db)).get(user_id)
        return encode(row) if row is not None else ABSENT

    entry, hit = await cache.read(profile_key(user_id), load)
    return entry or None, hit


async def _load_many(db: Database, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    return {row["user_id"]: row for row in await PROFILES.get_many(db, user_ids)}


async def read_profiles(
    db: Database, cache: Cache, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, bytes]:
    """Entries of the profiles that exist among ``user_ids``, by id."""
    keys = {profile_key(user_id): user_id for user_id in user_ids}

    async def load(missing: list[str]) -> dict[str, bytes]:
        rows = await PROFILES.get_many(db, [keys[key] for key in missing])
        found = {profile_key(row["user_id"]): encode(row) for row in rows}
        return {key: found.get(key, ABSENT) for key in missing}

    found = await cache.read_many(list(keys), load)
    return {keys[key]: value for key, value in found.items() if value}
