"""Profile reads through the cache: one entry per profile holding both representations (the
whole profile and the public view) already encoded, each with its ETag, so a hit costs no
database, no model and no JSON encoding. Writes mark ``profile_key`` stale (service.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from profilestore.domains.profiles.schemas import PUBLIC_FIELDS
from profilestore.domains.profiles.service import PROFILES, profile_key
from profilestore.platform.cache import Cache
from profilestore.platform.conditional import etag
from profilestore.platform.db import Database
from profilestore.platform.jsonutil import dumps

SEPARATOR = b"\x1f"
"""Between the parts of an entry: JSON escapes control characters, so no body contains it."""


@dataclass(frozen=True, slots=True)
class Representation:
    tag: str
    body: bytes


def encode(profile: dict[str, Any]) -> bytes:
    version = profile["version"]
    public = {name: profile[name] for name in PUBLIC_FIELDS}
    return SEPARATOR.join(
        (
            etag(version).encode(),
            dumps(profile),
            etag(version, public=True).encode(),
            dumps(public),
        )
    )


def view(entry: bytes, *, full: bool) -> Representation:
    full_tag, full_body, public_tag, public_body = entry.split(SEPARATOR)
    if full:
        return Representation(full_tag.decode(), full_body)
    return Representation(public_tag.decode(), public_body)


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
