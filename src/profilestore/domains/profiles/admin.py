"""Every profile, for operators: the admin listing (``GET /v1/admin/profiles``).

Profiles come in ``(updated_at, user_id)`` order (the index ``ix_profiles_updated_at_user_id``
serves it), so a back-office tool can page through all of them with keyset cursors, or keep
a watermark and ask only for what changed since (``updated_since``, inclusive).

``q`` is a search: a case- and accent-insensitive substring of the username or the display
name (``zoe`` finds "Zoë", ``STRASSE`` finds "Straße"). It is matched here, not in SQL, so it
means the same on SQLite (whose ``lower()`` knows ASCII only) and PostgreSQL, and a ``%`` or
``_`` in it is only a character. A search page examines at most ``SEARCH_BUDGET`` profiles in
listing order: a page may then hold fewer than ``limit`` items (even none) and still have a
``next_cursor``; keep following it until it is null.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import ColumnElement, Row, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles.folding import fold
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.schemas import ALL_FIELDS
from profilestore.domains.profiles.service import PROFILES
from profilestore.platform.db import UtcDateTime
from profilestore.platform.errors import invalid
from profilestore.platform.pagination import decode_position, encode_position
from profilestore.platform.types import BoundedDatetime

PAGE_DEFAULT = 50
PAGE_MAX = 200
SEARCH_BUDGET = 5000
"""Profiles a search page examines at most (the bound on one request's work)."""
SCAN_CHUNK = 500
"""Profiles a search reads per query (their keys and names only)."""

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_COLUMNS = [Profile.__table__.c[name] for name in ALL_FIELDS]
_ORDER = (Profile.updated_at, Profile.user_id)
After = tuple[dt.datetime, uuid.UUID]


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "datetime_format", "must be an RFC 3339 date-time with an offset (2026-01-31T12:00:00Z)"
        )
    return value


UpdatedSince = Annotated[BoundedDatetime, BeforeValidator(_rfc3339_text)]
"""An ``updated_since`` watermark: RFC 3339 text only (not a number of seconds)."""


@dataclass(frozen=True)
class Listing:
    """What a page asks for: the window (``updated_since``, after ``cursor``), a search and a
    page size."""

    updated_since: dt.datetime | None = None
    after: After | None = None
    q: str | None = None
    limit: int = PAGE_DEFAULT


def encode_cursor(updated_at: dt.datetime, user_id: uuid.UUID) -> str:
    return encode_position(updated_at, str(user_id))


def decode_cursor(cursor: str) -> After:
    """The position a cursor names; a 422 on ``query.cursor`` for anything else."""
    updated_at, tie = decode_position(cursor)
    try:
        return updated_at, uuid.UUID(tie)
    except ValueError:
        raise invalid("query.cursor", "not a cursor from this API", "cursor") from None


def window(updated_since: dt.datetime | None, after: After | None) -> list[ColumnElement[bool]]:
    """The conditions of the rows at or after ``updated_since`` and strictly after ``after``
    (a row-value comparison, which PostgreSQL answers from the index)."""
    conditions: list[ColumnElement[bool]] = []
    if updated_since is not None:
        conditions.append(Profile.updated_at >= updated_since)
    if after is not None:
        position = tuple_(literal(after[0], UtcDateTime()), literal(after[1], Profile.user_id.type))
        conditions.append(tuple_(*_ORDER) > position)
    return conditions


async def list_profiles(
    session: AsyncSession, listing: Listing
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of whole profiles in listing order, and the cursor of the next (None: done)."""
    if listing.q is None:
        return await _page(session, listing)
    return await _search(session, listing)


async def profiles_after(
    session: AsyncSession, updated_since: dt.datetime | None, after: After | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` whole profiles of the window, in listing order."""
    statement = (
        select(*_COLUMNS).where(*window(updated_since, after)).order_by(*_ORDER).limit(limit)
    )
    return [dict(row._mapping) for row in await session.execute(statement)]


async def _page(session: AsyncSession, listing: Listing) -> tuple[list[dict[str, Any]], str | None]:
    rows = await profiles_after(session, listing.updated_since, listing.after, listing.limit + 1)
    page = rows[: listing.limit]
    if len(rows) <= listing.limit:
        return page, None
    return page, encode_cursor(page[-1]["updated_at"], page[-1]["user_id"])


async def _search(
    session: AsyncSession, listing: Listing
) -> tuple[list[dict[str, Any]], str | None]:
    needle = fold(listing.q or "")
    scan = _scan(session, listing.updated_since, listing.after)
    matched: list[uuid.UUID] = []
    examined = 0
    last: Row[Any] | None = None
    try:
        async for row in scan:
            examined += 1
            last = row
            if needle in fold(row.username) or needle in fold(row.display_name or ""):
                matched.append(row.user_id)
            if len(matched) == listing.limit or examined == SEARCH_BUDGET:
                break
        else:
            return await PROFILES.get_many(session, matched), None
        more = await anext(scan, None) is not None
    finally:
        await scan.aclose()
    assert last is not None
    cursor = encode_cursor(last.updated_at, last.user_id) if more else None
    return await PROFILES.get_many(session, matched), cursor


async def _scan(
    session: AsyncSession, updated_since: dt.datetime | None, after: After | None
) -> AsyncGenerator[Row[Any], None]:
    """The keys and names of every profile in the window, in listing order, a chunk a query."""
    while True:
        statement = (
            select(Profile.updated_at, Profile.user_id, Profile.username, Profile.display_name)
            .where(*window(updated_since, after))
            .order_by(*_ORDER)
            .limit(SCAN_CHUNK)
        )
        rows = list(await session.execute(statement))
        for row in rows:
            yield row
        if len(rows) < SCAN_CHUNK:
            return
        after = (rows[-1].updated_at, rows[-1].user_id)
