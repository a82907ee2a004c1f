"""Media reads through the cache (``platform.cache``): the first page of a viewer's watchlist
and continue-watching row, and each resume point, as encoded bytes. Every write marks its keys
stale in its unit of work, so a viewer never sees their own change missing, on any replica."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.media.models import ResumePoint, Viewer
from profilestore.domains.media.schemas import DEFAULT_VIEWER
from profilestore.platform.cache import mark_stale
from profilestore.platform.jsonutil import dumps
from profilestore.platform.pagination import encode_position

FIRST_PAGE = 100
"""Rows a cached list keeps: enough for any ``limit`` of its first page."""


def watchlist_key(user_id: uuid.UUID, viewer_id: str) -> str:
    return f"watchlist:{user_id.hex}:{viewer_id}"


def continue_key(user_id: uuid.UUID, viewer_id: str) -> str:
    return f"continue:{user_id.hex}:{viewer_id}"


def resume_key(user_id: uuid.UUID, viewer_id: str, video_id: str) -> str:
    return f"resume:{user_id.hex}:{viewer_id}:{video_id}"


def mark_watchlist_stale(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> None:
    mark_stale(session, watchlist_key(user_id, viewer_id))


def mark_progress_stale(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, *video_ids: str
) -> None:
    keys = [resume_key(user_id, viewer_id, video_id) for video_id in video_ids]
    mark_stale(session, continue_key(user_id, viewer_id), *keys)


async def mark_viewer_stale(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str | None
) -> None:
    """Every cached read of one viewer (None: of every viewer of the account)."""
    viewers = [viewer_id] if viewer_id is not None else await _viewer_ids(session, user_id)
    for viewer in viewers:
        statement = select(ResumePoint.video_id).where(
            ResumePoint.user_id == user_id, ResumePoint.viewer_id == viewer
        )
        videos = list((await session.execute(statement)).scalars())
        mark_watchlist_stale(session, user_id, viewer)
        mark_progress_stale(session, user_id, viewer, *videos)


async def _viewer_ids(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    statement = select(Viewer.viewer_id).where(Viewer.user_id == user_id)
    return sorted({DEFAULT_VIEWER, *(await session.execute(statement)).scalars()})


SEPARATOR = b"\x1f"
"""Between the parts of a list entry: JSON escapes control characters, so no body holds it."""
DEFAULT_LIMIT = 20
"""The page size of a list read without ``limit``."""

Pager = Callable[..., Awaitable[tuple[list[dict[str, Any]], str | None]]]
"""``pager(session, cursor=..., limit=...)``: one newest-first page and the next cursor."""
FirstPage = Callable[[], Awaitable[tuple[list[dict[str, Any]], bool]]]
"""The first ``FIRST_PAGE`` rows and whether more follow (what the cache keeps)."""


async def _read(state: Any, key: str, load: Callable[[], Awaitable[bytes]]) -> tuple[bytes, bool]:
    """The entry of ``key`` and whether it was a hit, through the cache (media TTL); ``load``
    on a miss (an exception it raises, such as an unknown viewer's 404, is not cached)."""
    ttl = state.settings.media_cache_ttl_seconds
    value, hit = await state.cache.read(key, load, ttl_seconds=ttl)
    return value or b"", hit


def _answer(viewer_id: str, items: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    return dumps({"viewer_id": viewer_id, "items": items, "next_cursor": next_cursor})


async def page_body(
    state: Any,
    key: str,
    pager: Pager,
    first: FirstPage,
    *,
    viewer_id: str,
    cursor: str | None,
    limit: int,
    when: str,
    tie: str,
) -> tuple[bytes, bool]:
    """The encoded answer of a newest-first list read, and whether the cache answered it.

    The first page is cached under ``key`` as one entry (``first`` reads it on a miss): its
    first ``FIRST_PAGE`` rows (cut
    to any ``limit``; ``when`` and ``tie`` name the fields of its cursor) and the answer to the
    plain read (``DEFAULT_LIMIT``) already encoded, so that read costs no JSON work. Later
    pages are read from the database."""
    if cursor is not None:
        async with state.db.read_session() as session:
            items, next_cursor = await pager(session, cursor=cursor, limit=limit)
        return _answer(viewer_id, items, next_cursor), False

    async def load() -> bytes:
        rows, more = await first()
        plain = _answer(viewer_id, *_cut(rows, more, DEFAULT_LIMIT, when, tie))
        return dumps({"items": rows, "more": more}) + SEPARATOR + plain

    entry, hit = await _read(state, key, load)
    whole, plain = entry.split(SEPARATOR)
    if limit == DEFAULT_LIMIT:
        return plain, hit
    page = orjson.loads(whole)
    return _answer(viewer_id, *_cut(page["items"], page["more"], limit, when, tie)), hit


def _cut(
    rows: list[dict[str, Any]], more: bool, limit: int, when: str, tie: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The first ``limit`` of a first page's rows, and the cursor after them."""
    items = rows[:limit]
    if len(rows) <= limit and not more:
        return items, None
    last = items[-1]
    at = last[when]
    moment = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
    return items, encode_position(moment, str(last[tie]))


async def resume_body(
    state: Any, key: str, load: Callable[[], Awaitable[dict[str, Any] | None]]
) -> tuple[bytes | None, bool]:
    """The encoded resume point (None: there is none; that is cached too), and whether the
    cache answered."""

    async def encoded() -> bytes:
        point = await load()
        return dumps(point) if point is not None else ABSENT

    entry, hit = await _read(state, key, encoded)
    return (entry if entry != ABSENT else None), hit


ABSENT = b"-"
"""The entry of a video the viewer has no resume point of."""
