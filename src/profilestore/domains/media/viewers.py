"""Viewer profiles of an account ("who's watching"). The account itself is the viewer
``default``: it exists whenever the profile does, needs no row until it is changed, and
cannot be deleted. Every media route names its viewer with ``?viewer=`` (default ``default``)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.media import cached, events, ratings
from profilestore.domains.media.checks import lock_for_write, require_viewer
from profilestore.domains.media.models import HistoryEntry, ResumePoint, Viewer, WatchlistItem
from profilestore.domains.media.schemas import DEFAULT_VIEWER, DefaultViewerWrite, ViewerWrite
from profilestore.platform import owners
from profilestore.platform.conditional import check_if_match_tag, etag
from profilestore.platform.db import utcnow
from profilestore.platform.errors import ProblemError, not_found
from profilestore.platform.schemas import patched
from profilestore.platform.uow import SETTINGS

FIELDS = ("name", "avatar_url", "maturity", "language", "subtitle_language")


def viewer_dict(user_id: uuid.UUID, viewer: Viewer | None) -> dict[str, Any]:
    """The representation of a viewer; ``None`` is the default viewer as never changed."""
    if viewer is None:
        return {
            "user_id": user_id,
            "viewer_id": DEFAULT_VIEWER,
            "is_default": True,
            **dict.fromkeys(FIELDS),
            "maturity": "all",
            "created_at": None,
            "updated_at": None,
            "version": 0,
        }
    return {
        "user_id": viewer.user_id,
        "viewer_id": viewer.viewer_id,
        "is_default": viewer.viewer_id == DEFAULT_VIEWER,
        **{name: getattr(viewer, name) for name in FIELDS},
        "created_at": viewer.created_at,
        "updated_at": viewer.updated_at,
        "version": viewer.version,
    }


def viewer_tag(viewer: dict[str, Any]) -> str:
    return etag(viewer["version"])


async def _row(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> Viewer | None:
    statement = select(Viewer).where(Viewer.user_id == user_id, Viewer.viewer_id == viewer_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def list_viewers(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    if not await owners.owner_exists(session, user_id):
        raise not_found("profile")
    statement = select(Viewer).where(Viewer.user_id == user_id).order_by(Viewer.created_at)
    rows = list((await session.execute(statement)).scalars())
    default = next((row for row in rows if row.viewer_id == DEFAULT_VIEWER), None)
    others = [row for row in rows if row.viewer_id != DEFAULT_VIEWER]
    return [viewer_dict(user_id, default), *(viewer_dict(user_id, row) for row in others)]


async def get_viewer(session: AsyncSession, user_id: uuid.UUID, viewer_id: str) -> dict[str, Any]:
    await require_viewer(session, user_id, viewer_id)
    return viewer_dict(user_id, await _row(session, user_id, viewer_id))


async def create_viewer(
    session: AsyncSession, user_id: uuid.UUID, data: ViewerWrite
) -> dict[str, Any]:
    await lock_for_write(session, user_id, DEFAULT_VIEWER)
    limit = session.info[SETTINGS].media_max_viewers
    others = select(func.count()).where(
        Viewer.user_id == user_id, Viewer.viewer_id != DEFAULT_VIEWER
    )
    if (await session.execute(others)).scalar_one() + 1 >= limit:
        raise ProblemError(
            409,
            "viewers-full",
            f"An account has at most {limit} viewers, its own included: delete one first.",
        )
    await _ensure_name_free(session, user_id, data.name, exclude="")
    now = utcnow()
    viewer = Viewer(
        user_id=user_id,
        viewer_id=secrets.token_hex(8),
        **data.columns(),
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(viewer)
    await session.flush()
    events.viewer_changed(session, user_id, viewer.viewer_id, "created")
    return viewer_dict(user_id, viewer)


async def patch_viewer(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    patch: dict[str, Any],
    *,
    if_match: str | None,
) -> dict[str, Any]:
    await lock_for_write(session, user_id, viewer_id)
    row = await _row(session, user_id, viewer_id)
    current = viewer_dict(user_id, row)
    check_if_match_tag(session, if_match, viewer_tag(current))
    model = DefaultViewerWrite if viewer_id == DEFAULT_VIEWER else ViewerWrite
    data = patched(model, {name: current[name] for name in FIELDS}, patch)
    changes = {k: v for k, v in data.columns().items() if v != current[k]}
    if not changes:
        return current  # nothing changed: no new version, no event
    if data.name is not None:
        await _ensure_name_free(session, user_id, data.name, exclude=viewer_id)
    now = utcnow()
    if row is None:  # the default viewer's first change
        row = Viewer(user_id=user_id, viewer_id=viewer_id, created_at=now, version=0)
        session.add(row)
    for name, value in {**{k: current[k] for k in FIELDS}, **changes}.items():
        setattr(row, name, value)
    row.updated_at = now
    row.version += 1
    await session.flush()
    events.viewer_changed(session, user_id, viewer_id, "updated")
    return viewer_dict(user_id, row)


async def delete_viewer(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, *, if_match: str | None
) -> bool:
    """Removes a viewer and everything it watched, listed and rated. False if absent."""
    if viewer_id == DEFAULT_VIEWER:
        raise ProblemError(409, "default-viewer", "The account's own viewer cannot be deleted.")
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    row = await _row(session, user_id, viewer_id)
    current = viewer_tag(viewer_dict(user_id, row)) if row is not None else None
    check_if_match_tag(session, if_match, current)
    if row is None:
        return False
    await remove_media(session, user_id, viewer_id)
    await session.execute(
        delete(Viewer).where(Viewer.user_id == user_id, Viewer.viewer_id == viewer_id)
    )
    events.viewer_changed(session, user_id, viewer_id, "deleted")
    return True


async def remove_media(session: AsyncSession, user_id: uuid.UUID, viewer_id: str | None) -> None:
    """Delete the media rows of one viewer (None: every viewer of the account), correct the
    video aggregates and drop the cached reads."""
    await ratings.remove_all(session, user_id, viewer_id)
    await cached.mark_viewer_stale(session, user_id, viewer_id)
    for table in (WatchlistItem, ResumePoint, HistoryEntry):
        statement = delete(table).where(table.user_id == user_id)
        if viewer_id is not None:
            statement = statement.where(table.viewer_id == viewer_id)
        await session.execute(statement)


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The profile is being deleted: its media rows go, the aggregates are corrected."""
    await remove_media(session, user_id, None)
    await session.execute(delete(Viewer).where(Viewer.user_id == user_id))


async def _ensure_name_free(
    session: AsyncSession, user_id: uuid.UUID, name: str, *, exclude: str
) -> None:
    """409 if another viewer of the account (not ``exclude``) has ``name`` in any case (an
    account has a handful of viewers: their names are compared here)."""
    statement = select(Viewer.name).where(Viewer.user_id == user_id, Viewer.viewer_id != exclude)
    taken = {other.casefold() for other in (await session.execute(statement)).scalars() if other}
    if name.casefold() in taken:  # in Python: SQLite's lower() folds ASCII only
        raise ProblemError(
            409, "viewer-name-taken", "Another viewer of this account has this name."
        )
