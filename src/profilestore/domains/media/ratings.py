"""Ratings and reviews. One rating per viewer per video; each write corrects the video's
aggregate (count, total, 1-5 distribution) in the same transaction, with one upsert, so a
read of the aggregate never scans ratings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.media import events
from profilestore.domains.media.checks import lock_for_write, require_viewer
from profilestore.domains.media.models import Rating, VideoRatings
from profilestore.domains.media.schemas import RatingWrite
from profilestore.domains.profiles import public as profiles
from profilestore.platform import owners, registry
from profilestore.platform.conditional import check_if_match_tag, etag
from profilestore.platform.db import utcnow
from profilestore.platform.errors import invalid
from profilestore.platform.pagination import decode_position, encode_position, newest_first_page

STARS = (1, 2, 3, 4, 5)
_MOST_LISTED = 1000
"""Bound of a reviews cursor's count (reviews of one instant by one account: one a viewer)."""
_RATING_FIELDS = (
    "user_id",
    "viewer_id",
    "video_id",
    "stars",
    "review",
    "spoiler",
    "created_at",
    "updated_at",
    "version",
)


def rating_dict(rating: Rating) -> dict[str, Any]:
    return {name: getattr(rating, name) for name in _RATING_FIELDS}


def rating_tag(rating: dict[str, Any] | None) -> str | None:
    return etag(rating["version"]) if rating is not None else None


async def _get(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str
) -> Rating | None:
    statement = select(Rating).where(
        Rating.user_id == user_id, Rating.viewer_id == viewer_id, Rating.video_id == video_id
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def get_rating(
    session: AsyncSession, user_id: uuid.UUID, viewer_id: str, video_id: str
) -> dict[str, Any] | None:
    await require_viewer(session, user_id, viewer_id)
    rating = await _get(session, user_id, viewer_id, video_id)
    return rating_dict(rating) if rating is not None else None


async def put_rating(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    video_id: str,
    data: RatingWrite,
    *,
    if_match: str | None,
) -> tuple[dict[str, Any], bool]:
    """Create or replace; the rating and whether it was created."""
    await lock_for_write(session, user_id, viewer_id)
    rating = await _get(session, user_id, viewer_id, video_id)
    current = rating_dict(rating) if rating is not None else None
    check_if_match_tag(session, if_match, rating_tag(current))
    if current is not None and _same(current, data):
        return current, False  # nothing changed: no new version, no event
    now = utcnow()
    previous = rating.stars if rating is not None else None
    if rating is None:
        rating = Rating(
            user_id=user_id,
            viewer_id=viewer_id,
            video_id=video_id,
            created_at=now,
            version=0,
        )
        session.add(rating)
    rating.stars = data.stars
    rating.review = data.review or None  # a blank review (trimmed to "") is no review
    rating.spoiler = data.spoiler
    rating.updated_at = now
    rating.version += 1
    await session.flush()
    await _adjust(
        session, video_id, {data.stars: 1} if previous is None else _moved(previous, data.stars)
    )
    action = "rated" if previous is None else "changed"
    events.video_rated(
        session,
        user_id,
        viewer_id,
        video_id,
        stars=data.stars,
        previous_stars=previous,
        action=action,
    )
    return rating_dict(rating), previous is None


def _same(current: dict[str, Any], data: RatingWrite) -> bool:
    wanted = {"stars": data.stars, "review": data.review or None, "spoiler": data.spoiler}
    return all(current[name] == value for name, value in wanted.items())


def _moved(previous: int, stars: int) -> dict[int, int]:
    return {} if previous == stars else {previous: -1, stars: 1}


async def delete_rating(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    video_id: str,
    *,
    if_match: str | None,
) -> None:
    """Idempotent: deleting what is not there changes nothing."""
    await lock_for_write(session, user_id, viewer_id)
    rating = await _get(session, user_id, viewer_id, video_id)
    check_if_match_tag(session, if_match, rating_tag(rating_dict(rating) if rating else None))
    if rating is None:
        return
    await session.delete(rating)
    await _adjust(session, video_id, {rating.stars: -1})
    events.video_rated(
        session,
        user_id,
        viewer_id,
        video_id,
        stars=None,
        previous_stars=rating.stars,
        action="removed",
    )


async def list_ratings(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    await require_viewer(session, user_id, viewer_id)
    statement = select(Rating).where(Rating.user_id == user_id, Rating.viewer_id == viewer_id)
    rows, next_cursor = await newest_first_page(
        session, statement, Rating.updated_at, Rating.video_id, cursor=cursor, limit=limit
    )
    return [rating_dict(row) for row in rows], next_cursor


async def remove_all(session: AsyncSession, user_id: uuid.UUID, viewer_id: str | None) -> None:
    """Delete the ratings of one viewer (None: all of the account's), correcting aggregates;
    each is a ``VideoRated`` ``removed`` event (consumers keeping their own aggregates)."""
    statement = select(Rating.viewer_id, Rating.video_id, Rating.stars).where(
        Rating.user_id == user_id
    )
    deletion = delete(Rating).where(Rating.user_id == user_id)
    if viewer_id is not None:
        statement = statement.where(Rating.viewer_id == viewer_id)
        deletion = deletion.where(Rating.viewer_id == viewer_id)
    changes: dict[str, dict[int, int]] = {}
    for rated_by, video_id, stars in await session.execute(statement):
        by_stars = changes.setdefault(video_id, {})
        by_stars[stars] = by_stars.get(stars, 0) - 1
        events.video_rated(
            session,
            user_id,
            rated_by,
            video_id,
            stars=None,
            previous_stars=stars,
            action="removed",
        )
    await session.execute(deletion)
    for video_id in sorted(changes):  # one order for every writer: no deadlock between two
        await _adjust(session, video_id, changes[video_id])


async def _adjust(session: AsyncSession, video_id: str, changes: dict[int, int]) -> None:
    """Add ``changes`` (stars → count delta) to the video's aggregate, in one upsert."""
    if not any(changes.values()):
        return
    deltas: dict[str, int] = {f"stars_{stars}": changes.get(stars, 0) for stars in STARS}
    deltas["count"] = sum(changes.values())
    deltas["stars_total"] = sum(stars * delta for stars, delta in changes.items())
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(VideoRatings).values(video_id=video_id, **deltas)
    table = VideoRatings.__table__.c
    statement = statement.on_conflict_do_update(
        index_elements=[table.video_id],
        set_={name: table[name] + statement.excluded[name] for name in deltas},
    )
    await session.execute(statement)


def summary(video_id: str, row: VideoRatings | None) -> dict[str, Any]:
    counts = {str(stars): getattr(row, f"stars_{stars}") if row else 0 for stars in STARS}
    count = row.count if row else 0
    average = round(row.stars_total / count, 2) if row and count else None
    return {"video_id": video_id, "count": count, "average": average, "distribution": counts}


async def video_ratings(session: AsyncSession, video_id: str) -> dict[str, Any]:
    statement = select(VideoRatings).where(VideoRatings.video_id == video_id)
    return summary(video_id, (await session.execute(statement)).scalar_one_or_none())


async def reviews(
    session: AsyncSession,
    video_id: str,
    *,
    viewer: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Ratings of ``video_id`` with a review, newest first, each with its author's public
    profile; authors ``viewer`` may not see (who block them) are left out.

    An account's viewers each have their own rating, so ``(updated_at, user_id)`` does not
    name one review: rows of one instant and author are ordered by viewer, and the cursor
    says how many of that group were already listed (it carries no viewer id, which is the
    author's private data)."""
    conditions = [
        Rating.video_id == video_id,
        Rating.review.is_not(None),
        *registry.viewer_filters(Rating.user_id, viewer),
    ]
    after: tuple[dt.datetime, uuid.UUID] | None = None
    listed = 0
    if cursor is not None:
        when, author, listed = _review_position(cursor)
        after = (when, author)
        conditions.append(
            or_(
                Rating.updated_at < when,
                and_(Rating.updated_at == when, Rating.user_id <= author),
            )
        )
    statement = (
        select(Rating)
        .where(*conditions)
        .order_by(Rating.updated_at.desc(), Rating.user_id.desc(), Rating.viewer_id.desc())
        .offset(listed)
        .limit(limit + 1)
    )
    found = list((await session.execute(statement)).scalars())
    rows = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = (rows[-1].updated_at, rows[-1].user_id)
        same = sum(1 for row in rows if (row.updated_at, row.user_id) == last)
        same += listed if last == after else 0
        next_cursor = encode_position(last[0], f"{last[1]}:{same}")
    authors: dict[uuid.UUID, dict[str, Any] | None]
    if owners.identity_elsewhere():  # a media service on a database of its own
        authors = {row.user_id: None for row in rows}
    else:
        authors = {
            **await profiles.embedded_profiles(
                session, list({row.user_id for row in rows}), viewer=viewer
            )
        }
    items = [
        {
            "video_id": row.video_id,
            "stars": row.stars,
            "review": row.review,
            "spoiler": row.spoiler,
            "updated_at": row.updated_at,
            "author_id": str(row.user_id),
            "author": authors[row.user_id],
        }
        for row in rows
        if row.user_id in authors
    ]
    return items, next_cursor


def _review_position(cursor: str) -> tuple[dt.datetime, uuid.UUID, int]:
    """A reviews cursor: the last review's instant and author, and how many reviews of that
    instant and author were listed."""
    when, tie = decode_position(cursor)
    author, _, count = tie.partition(":")
    try:
        return when, uuid.UUID(author), _listed_count(count)
    except ValueError:
        raise invalid("query.cursor", "not a cursor from this API", "cursor") from None


def _listed_count(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= _MOST_LISTED:
        raise ValueError(text)
    return int(text)
