"""Rules of the profiles domain. Functions take a session and never commit."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, Uuid, any_, bindparam, cast, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import custom_fields, events, search_words, usernames
from profilestore.domains.profiles.models import Address, Profile
from profilestore.domains.profiles.schemas import ALL_FIELDS, ProfileWrite
from profilestore.platform import registry
from profilestore.platform.cache import mark_stale
from profilestore.platform.conditional import (
    check_if_match,
    check_if_none_match_create,
)
from profilestore.platform.db import Database, utcnow
from profilestore.platform.errors import ProblemError, not_found
from profilestore.platform.reads import PreparedRead
from profilestore.platform.schemas import patched

_COLUMNS = [Profile.__table__.c[name] for name in ALL_FIELDS]
_WRITABLE = tuple(ProfileWrite.model_fields)
SEARCHED = {"username", "display_name"}
"""The columns people search reads words of (``search_words.py``)."""
Source = Database | AsyncSession


def profile_key(user_id: uuid.UUID) -> str:
    """The cache key of a profile's representations (``cached.py``)."""
    return f"profiles:{user_id.hex}"


@dataclass
class ProfileChange:
    """The outcome of a write: the new state, whether it was created, and what changed."""

    profile: dict[str, Any]
    created: bool = False
    changed: list[str] = field(default_factory=list)


class ProfileReads:
    """The profile reads, each prepared once (see ``platform.reads``), narrowed by ``filters``
    (e.g. the social domain's "not blocked by ``:viewer``") and with ``extra`` columns; their
    values are passed by name."""

    def __init__(self, *filters: ColumnElement[bool], extra: tuple[Any, ...] = ()) -> None:
        base = select(*_COLUMNS, *extra).where(*filters)
        self.by_id = PreparedRead(base.where(Profile.user_id == bindparam("user_id")))
        self.by_username = PreparedRead(base.where(Profile.username == bindparam("username")))
        self.by_ids = PreparedRead(
            base.where(Profile.user_id.in_(bindparam("user_ids", expanding=True)))
        )
        ids_text = func.string_to_array(bindparam("user_ids_text", type_=String), ",")
        self.by_id_list = PreparedRead(
            base.where(Profile.user_id == any_(cast(ids_text, ARRAY(Uuid))))
        )

    async def get(self, source: Source, user_id: uuid.UUID, **values: Any) -> dict[str, Any] | None:
        """One statement, one round trip."""
        return await self.by_id.one(source, user_id=user_id, **values)

    async def find_by_username(
        self, source: Source, username: str, **values: Any
    ) -> dict[str, Any] | None:
        return await self.by_username.one(source, username=username.lower(), **values)

    async def get_many(
        self, source: Source, user_ids: list[uuid.UUID], **values: Any
    ) -> list[dict[str, Any]]:
        """Many profiles in one query, in the order asked; missing ids are left out."""
        if _is_postgresql(source):
            text = ",".join(map(str, user_ids))
            rows = await self.by_id_list.all(source, user_ids_text=text, **values)
        else:
            rows = await self.by_ids.all(source, user_ids=user_ids, **values)
        found = {row["user_id"]: row for row in rows}
        return [found[user_id] for user_id in dict.fromkeys(user_ids) if user_id in found]


def _is_postgresql(source: Source) -> bool:
    """PostgreSQL takes the ids as one text parameter (``by_id_list``): one prepared statement
    for any number of ids, where an expanding ``IN`` is a new statement per count, and no
    array type for the driver to look up on each new connection."""
    if isinstance(source, Database):
        return source.is_postgresql
    return source.get_bind().dialect.name == "postgresql"


PROFILES = ProfileReads()
"""Reads that see every profile (the owner's, an admin's or a service's view)."""

_visible: dict[tuple[int, ...], ProfileReads] = {}


def visible_reads() -> ProfileReads:
    """Reads narrowed by every installed domain's viewer filter (the social domain's: "the
    owner does not block ``:viewer``"), each row saying whether the owner has ``:viewer``
    among their contacts (``viewer_is_contact``: their reach, ``audiences.py``); pass
    ``viewer=`` to each call. Built once per set of installed domains."""
    key = tuple(id(domain) for domain in registry.installed())
    if key not in _visible:
        viewer: Any = bindparam("viewer")
        filters = registry.viewer_filters(Profile.user_id, viewer)
        is_contact = registry.is_contact(Profile.user_id, viewer).label("viewer_is_contact")
        _visible[key] = ProfileReads(*filters, extra=(is_contact,))
    return _visible[key]


async def profile_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await session.execute(select(Profile.user_id).where(Profile.user_id == user_id))
    return result.first() is not None


async def lock_owner(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Lock the profile row (as ``lock_profile``) without loading it; False: no profile."""
    statement = select(Profile.user_id).where(Profile.user_id == user_id).with_for_update()
    return (await session.execute(statement)).first() is not None


async def lock_owner_timezone(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, str | None]:
    """Lock the profile row (as ``lock_owner``): whether there is one, and its timezone."""
    statement = select(Profile.timezone).where(Profile.user_id == user_id).with_for_update()
    row = (await session.execute(statement)).first()
    return (False, None) if row is None else (True, row.timezone)


async def profile_timezone(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, str | None]:
    """Whether the profile exists, and its timezone (no lock: for reads)."""
    statement = select(Profile.timezone).where(Profile.user_id == user_id)
    row = (await session.execute(statement)).first()
    return (False, None) if row is None else (True, row.timezone)


async def lock_profile(session: AsyncSession, user_id: uuid.UUID) -> Profile | None:
    """The profile row, locked for the rest of the transaction (SQLite: BEGIN IMMEDIATE)."""
    statement = select(Profile).where(Profile.user_id == user_id).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def put_profile(
    session: AsyncSession,
    user_id: uuid.UUID,
    data: ProfileWrite,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
) -> ProfileChange:
    current = await lock_profile(session, user_id)
    check_if_match(session, if_match, current.version if current else None)
    check_if_none_match_create(if_none_match, current is not None)
    if current is None:
        try:
            return await _create(session, user_id, data)
        except _CreateRaceLost:
            # The winner has committed (PostgreSQL made our insert wait for it): this PUT is
            # now an update of that profile, under the same preconditions.
            current = await lock_profile(session, user_id)
            if current is None:
                raise ProblemError(
                    409, "conflict", "A concurrent write conflicted; retry."
                ) from None
            check_if_match(session, if_match, current.version)
            check_if_none_match_create(if_none_match, exists=True)
    return await _update(session, current, data)


async def patch_profile(
    session: AsyncSession, user_id: uuid.UUID, patch: dict[str, Any], *, if_match: str | None
) -> ProfileChange:
    current = await lock_profile(session, user_id)
    if current is None:
        raise not_found("profile")
    check_if_match(session, if_match, current.version)
    data = patched(ProfileWrite, _writable(current), patch)
    return await _update(session, current, data)


async def delete_profile(
    session: AsyncSession, user_id: uuid.UUID, *, if_match: str | None
) -> bool:
    """Removes the profile and everything of it in this domain. False if there was none."""
    current = await lock_profile(session, user_id)
    check_if_match(session, if_match, current.version if current else None)
    if current is None:
        return False
    await registry.user_deleted(session, user_id)
    events.profile_deleted(session, user_id)
    return True


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The domain's own part of a deletion (the registry runs it after the dependent domains
    removed theirs): the search words, the addresses and the profile row."""
    mark_stale(session, profile_key(user_id))
    await usernames.forget(session, user_id)
    await search_words.forget(session, user_id)
    await session.execute(delete(Address).where(Address.user_id == user_id))
    await session.execute(delete(Profile).where(Profile.user_id == user_id))


async def _create(session: AsyncSession, user_id: uuid.UUID, data: ProfileWrite) -> ProfileChange:
    await _ensure_username_free(session, data.username, user_id)
    now = utcnow()
    columns = _columns(data, None)
    profile = Profile(user_id=user_id, **columns, created_at=now, updated_at=now, version=1)
    try:
        async with session.begin_nested():
            session.add(profile)
            await session.flush()
    except IntegrityError as exc:
        if _is_username_conflict(exc):
            raise _username_taken() from None
        raise _CreateRaceLost from None
    await search_words.index_profile(session, user_id, profile.username, profile.display_name)
    mark_stale(session, profile_key(user_id))
    change = ProfileChange(as_dict(profile), created=True, changed=list(_WRITABLE))
    events.profile_written(session, change.profile, created=True, changed=change.changed)
    return change


class _CreateRaceLost(Exception):
    """A concurrent request created the same profile between our look-up and our insert."""


async def _update(session: AsyncSession, current: Profile, data: ProfileWrite) -> ProfileChange:
    columns = _columns(data, current)
    changed = [name for name, value in columns.items() if getattr(current, name) != value]
    if "username" in changed:
        await _ensure_username_free(session, data.username, current.user_id)
        await usernames.record_change(session, current.user_id, current.username, data.username)
    return await update_columns(session, current, columns)


async def update_columns(
    session: AsyncSession, current: Profile, columns: dict[str, Any]
) -> ProfileChange:
    """Write ``columns`` into the locked profile ``current``: a new version if any changed,
    the other domains told (``profile_changed``), the event."""
    changed = [name for name, value in columns.items() if getattr(current, name) != value]
    if changed:
        for name in changed:
            setattr(current, name, columns[name])
        _touch(current, utcnow())
        await _flush(session)
        if SEARCHED & set(changed):
            await search_words.index_profile(
                session, current.user_id, current.username, current.display_name
            )
        mark_stale(session, profile_key(current.user_id))
    profile = as_dict(current)
    if changed:
        await registry.profile_changed(session, profile, changed)
    events.profile_written(session, profile, created=False, changed=changed)
    return ProfileChange(profile, changed=changed)


def _touch(profile: Profile, now: dt.datetime) -> None:
    profile.updated_at = now
    profile.version += 1


async def _ensure_username_free(session: AsyncSession, username: str, owner: uuid.UUID) -> None:
    await usernames.check_claim(session, username, owner)
    statement = select(Profile.user_id).where(
        Profile.username == username, Profile.user_id != owner
    )
    if (await session.execute(statement)).first() is not None:
        raise _username_taken()


def _username_taken() -> ProblemError:
    return ProblemError(409, "username-taken", "That username is already taken.")


def _is_username_conflict(exc: IntegrityError) -> bool:
    return "username" in str(exc.orig)


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if _is_username_conflict(exc):
            raise _username_taken() from None
        raise _conflict() from None


def _conflict() -> ProblemError:
    return ProblemError(409, "conflict", "A concurrent write conflicted; retry.")


def _writable(current: Profile) -> dict[str, Any]:
    """The profile as a write body, the target of a merge patch: of its custom values, only
    the declared fields' (a patch cannot name the others; they are kept by ``_columns``)."""
    data = {name: getattr(current, name) for name in _WRITABLE}
    data["fields"] = custom_fields.active().shown(current.fields or {})
    return data


def _columns(data: ProfileWrite, current: Profile | None) -> dict[str, Any]:
    """The row's columns after writing ``data``: the custom values checked against the profile
    schema (422 naming each refused one), the stored values of undeclared fields kept."""
    columns = data.columns()
    stored = (current.fields or {}) if current is not None else {}
    columns["fields"] = custom_fields.validate_values(
        data.fields, stored=stored, creating=current is None
    )
    return columns


def as_dict(profile: Profile) -> dict[str, Any]:
    """The profile as the service returns it: custom values of declared fields only."""
    data = {name: getattr(profile, name) for name in ALL_FIELDS}
    data["fields"] = custom_fields.active().shown(data["fields"] or {})
    return data
