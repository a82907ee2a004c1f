"""Keyset pagination: stable order, no duplicates or gaps while rows change, and an opaque
cursor (URL-safe base64 of the last row's key). Two orders: by a UUID key (``keyset_page``)
and newest first by a time and a tie-breaking key (``newest_first_page``)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from profilestore.platform.errors import FieldError, ProblemError

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{22}$"
"""A cursor as ``encode_cursor`` writes it (16 bytes, URL-safe base64, no padding)."""


def encode_cursor(last: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise _bad_cursor() from None


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    key: InstrumentedAttribute[uuid.UUID],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """One page of ``statement``'s entities ordered by ``key``, after ``cursor``, and the cursor
    of the next page (None on the last)."""
    statement = statement.order_by(key).limit(limit + 1)
    if cursor is not None:
        statement = statement.where(key > decode_cursor(cursor))
    rows = list((await session.execute(statement)).scalars())
    page = rows[:limit]
    more = len(rows) > limit
    return page, encode_cursor(getattr(page[-1], key.key)) if more else None


POSITION_PATTERN = r"^[A-Za-z0-9_-]{8,400}$"
"""A cursor as ``encode_position`` writes it."""
Position = tuple[dt.datetime, str]


def encode_position(when: dt.datetime, tie: str) -> str:
    """The cursor of a row in a newest-first list: its time and its tie-breaking key."""
    raw = json.dumps([when.astimezone(dt.UTC).isoformat(), tie], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_position(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when_text, tie = json.loads(raw)
        when = dt.datetime.fromisoformat(when_text)
        if when.tzinfo is None or not isinstance(tie, str):
            raise ValueError(cursor)
        return when.astimezone(dt.UTC), tie
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None


async def newest_first_page(
    session: AsyncSession,
    statement: Select[Any],
    when: InstrumentedAttribute[Any],
    tie: InstrumentedAttribute[Any],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """One page of ``statement``'s entities, newest ``when`` first (``tie`` orders rows of the
    same instant), after ``cursor``; and the cursor of the next page (None on the last)."""
    statement = statement.order_by(when.desc(), tie.desc()).limit(limit + 1)
    if cursor is not None:
        after_when, after_tie = decode_position(cursor)
        tie_value: Any = _tie_value(tie, after_tie)
        statement = statement.where(
            or_(when < after_when, and_(when == after_when, tie < tie_value))
        )
    rows = list((await session.execute(statement)).scalars())
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_position(getattr(last, when.key), str(getattr(last, tie.key)))


def _tie_value(tie: InstrumentedAttribute[Any], text: str) -> Any:
    if tie.type.python_type is uuid.UUID:
        try:
            return uuid.UUID(text)
        except ValueError:
            raise _bad_cursor() from None
    return text


def _bad_cursor() -> ProblemError:
    error = FieldError(field="query.cursor", message="not a cursor from this API", code="cursor")
    return ProblemError(422, "validation-failed", "The request is not valid.", errors=[error])
