"""Keyset pagination over a UUID key: stable order, no duplicates or gaps while rows change,
and an opaque cursor (the last key of the page, URL-safe base64)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
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
        error = FieldError(
            field="query.cursor", message="not a cursor from this API", code="cursor"
        )
        raise ProblemError(
            422, "validation-failed", "The request is not valid.", errors=[error]
        ) from None


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
