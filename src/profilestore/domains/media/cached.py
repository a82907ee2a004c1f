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


async def read(
    state: Any, key: str, load: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """The decoded value of ``key``, through the cache (media TTL); ``load`` on a miss (an
    exception it raises, such as an unknown viewer's 404, is not cached)."""

    async def encoded() -> bytes:
        return dumps(await load())

    value, _ = await state.cache.read(
        key, encoded, ttl_seconds=state.settings.media_cache_ttl_seconds
    )
    found: dict[str, Any] = orjson.loads(value or b"{}")
    return found


def first_page(
    cached_page: dict[str, Any], limit: int, when: str, tie: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The first ``limit`` items of a cached first page, and the cursor after them."""
    rows: list[dict[str, Any]] = cached_page["items"]
    items = rows[:limit]
    if len(rows) <= limit and not cached_page["more"]:
        return items, None
    last = items[-1]
    return items, encode_position(dt.datetime.fromisoformat(last[when]), str(last[tie]))
