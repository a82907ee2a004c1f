"""People search: prefix and typo-tolerant matches on the username and the display name,
case- and accent-insensitive, ranked and keyset-paged.

Rank order: the tier (0 an exact username or display name, 1 a prefix of the username or of
a word of the display name, 2 a fuzzy match), then the caller's contacts before others, then
the username (unique, so the order is total and a cursor names a position in it).

PostgreSQL folds with ``profilestore_fold`` (``lower(unaccent(..))``, migration
profiles_0005) and answers from trigram indexes; a fuzzy match is pg_trgm's ``%`` (trigram
similarity at least ``pg_trgm.similarity_threshold``, 0.3 by default). SQLite runs the same
query with the same two functions written in Python here (registered on each connection by
``register_sqlite_functions``), scanning the table: fine for the embedded default's sizes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Uuid,
    case,
    column,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles.admin import fold
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.schemas import PUBLIC_FIELDS
from profilestore.platform import registry
from profilestore.platform.errors import invalid

FUZZY_MIN_LENGTH = 3
"""Shorter queries match by prefix only (a trigram of one or two letters says little)."""
SIMILARITY_THRESHOLD = 0.3
"""pg_trgm's default ``similarity_threshold``; the SQLite similarity uses the same."""
_WORD = re.compile(r"[^\W_]+")
_CONTACTS = table("contacts", column("user_id", Uuid), column("contact_user_id", Uuid))


@dataclass(frozen=True)
class Position:
    """Where a page ends in the rank order."""

    tier: int
    not_contact: int
    username: str


@dataclass(frozen=True)
class Viewer:
    """Who searches: a user (filtered and boosted by their social graph) or a privileged
    caller (``user_id`` None: sees every profile, no boost)."""

    user_id: uuid.UUID | None


def normalize_query(q: str) -> str:
    """The folded needle: without a leading ``@`` (mentions) and surrounding spaces."""
    needle = fold(q.strip().removeprefix("@").strip())
    if not needle:
        raise invalid("query.q", "give at least one letter or digit to search for", "q")
    return needle


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams: of each alphanumeric word padded with two spaces before and one
    after."""
    grams: set[str] = set()
    for word in _WORD.findall(text.lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def similarity(left: str | None, right: str | None) -> float:
    """pg_trgm's ``similarity``: shared trigrams over all trigrams of the two."""
    if left is None or right is None:
        return 0.0
    a, b = trigrams(left), trigrams(right)
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def register_sqlite_functions(dbapi_connection: Any, _record: Any = None) -> None:
    """The search's SQL functions on a SQLite connection (deterministic: usable anywhere)."""
    dbapi_connection.create_function("profilestore_fold", 1, _fold_or_null, deterministic=True)
    dbapi_connection.create_function("profilestore_similarity", 2, similarity, deterministic=True)


def _fold_or_null(text: str | None) -> str | None:
    return None if text is None else fold(text)


async def search(
    session: AsyncSession, q: str, viewer: Viewer, after: Position | None, limit: int
) -> tuple[list[dict[str, Any]], Position | None]:
    """One page of public profiles matching ``q`` in rank order, and where the next begins."""
    statement = _ranked(session, normalize_query(q), viewer)
    ranked = statement.subquery()
    page = select(ranked)
    if after is not None:
        key = (literal(after.tier), literal(after.not_contact), literal(after.username, String))
        page = page.where(
            tuple_(ranked.c.tier, ranked.c.not_contact, ranked.c.username) > tuple_(*key)
        )
    page = page.order_by(ranked.c.tier, ranked.c.not_contact, ranked.c.username).limit(limit + 1)
    rows = [row._mapping for row in await session.execute(page)]
    items = [{name: row[name] for name in PUBLIC_FIELDS} for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]
    return items, Position(last["tier"], last["not_contact"], last["username"])


def _ranked(session: AsyncSession, needle: str, viewer: Viewer) -> Select[Any]:
    name = func.profilestore_fold(Profile.username)
    display = func.profilestore_fold(Profile.display_name)
    prefix = _escape_like(needle) + "%"
    exact = or_(name == needle, display == needle)
    starts = or_(
        name.like(prefix, escape="\\"),
        display.like(prefix, escape="\\"),
        display.like("% " + prefix, escape="\\"),
    )
    fuzzy = _similar(session, (name, display), needle)
    tier = case((exact, 0), (starts, 1), else_=2)
    columns = [Profile.__table__.c[field] for field in PUBLIC_FIELDS]
    return select(
        *columns,
        tier.label("tier"),
        _not_contact(viewer).label("not_contact"),
    ).where(or_(starts, fuzzy), *_visible_to(viewer))


def _similar(
    session: AsyncSession, folded: tuple[ColumnElement[Any], ...], needle: str
) -> ColumnElement[bool]:
    if len(needle) < FUZZY_MIN_LENGTH:
        return false()
    if session.get_bind().dialect.name == "postgresql":
        return or_(*(value.op("%")(needle) for value in folded))
    return or_(
        *(func.profilestore_similarity(value, needle) >= SIMILARITY_THRESHOLD for value in folded)
    )


def _visible_to(viewer: Viewer) -> list[ColumnElement[bool]]:
    """Leave out the caller and everyone whose profile the caller may not see (blocks)."""
    if viewer.user_id is None:
        return []
    me = literal(viewer.user_id, Uuid())
    return [Profile.user_id != me, *registry.viewer_filters(Profile.user_id, me)]


def _not_contact(viewer: Viewer) -> ColumnElement[int]:
    """0 for the caller's contacts (ranked first within a tier), 1 for everyone else. The
    contacts table is the social domain's; without that domain nobody is a contact."""
    installed = {domain.name for domain in registry.installed()}
    if viewer.user_id is None or "social" not in installed:
        return literal(1, Integer)
    is_contact = exists().where(
        _CONTACTS.c.user_id == literal(viewer.user_id, Uuid()),
        _CONTACTS.c.contact_user_id == Profile.user_id,
    )
    return case((is_contact, 0), else_=1)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_position(position: Position) -> str:
    raw = json.dumps([position.tier, position.not_contact, position.username]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str) -> Position:
    """The position a cursor names; a 422 on ``query.cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tier, not_contact, username = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise _bad_cursor() from None
    if tier not in (0, 1, 2) or not_contact not in (0, 1) or not isinstance(username, str):
        raise _bad_cursor()
    return Position(tier, not_contact, username)


def _bad_cursor() -> Exception:
    return invalid("query.cursor", "not a cursor from this API", "cursor")
