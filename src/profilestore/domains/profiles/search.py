"""People search: prefix and typo-tolerant matches on the username and the display name,
case- and accent-insensitive, ranked and keyset-paged.

The needle is the query folded (case and accents: ``folding.fold``; on PostgreSQL by the
function the stored names are folded with). A word is a run of letters and digits (of the
username: of letters; the digits many usernames end with make no word). A word counts for
a caller if it is of the username or of a display name the caller may see. Rank order:

- tier 0: the username or the shown display name is the needle;
- tier 1: the username starts with the needle;
- tier 2: a word start: for a needle of one word, a counted word starts with it; of several
  words, the shown display name does, or does after a space;
- tier 3 (needles of 3 characters or more): a counted word is one of the ``FUZZY_WORDS``
  words most similar to the needle (trigram similarity at least 0.3, pg_trgm's default;
  for a one-word needle, not one starting with it: those are tier 2), ranked by the
  similarity of its most similar such word, best first;

then the caller's contacts before others, then the username (unique, so the order is total
and a cursor names a position in it: ``Position``). Each profile appears once, in its first
tier. A private account is found only by its owner's contacts; nobody who blocks the caller
is found. Admins and services find everyone and get no contacts boost.

Each tier is one statement (``search_sql.py``), run in tier order until the page is full:
the fuzzy tier (the costly one) runs only when the others leave the page short, and reads
its words in chunks of whole similarities, most similar first, until the page is full.
SQLite runs the same statements with the functions written in Python here (registered on
each connection by ``register_sqlite_functions``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import audiences
from profilestore.domains.profiles import search_sql as sql
from profilestore.domains.profiles.folding import fold
from profilestore.domains.profiles.schemas import PUBLIC_FIELDS
from profilestore.domains.profiles.search_models import WORD_LENGTH
from profilestore.domains.profiles.search_sql import following
from profilestore.platform.errors import invalid

EXACT, USERNAME_PREFIX, NAME_PREFIX, FUZZY = (
    sql.EXACT,
    sql.USERNAME_PREFIX,
    sql.NAME_PREFIX,
    sql.FUZZY,
)
FUZZY_MIN_LENGTH = 3
"""Shorter queries match by prefix only (a trigram of one or two letters says little)."""
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Position:
    """Where a page ends in the rank order: the tier, the rank within it (minus the
    similarity in the fuzzy tier, 0 in the others), the contacts boost, the folded username
    (the order an index keeps), the username."""

    tier: int
    rank: float
    not_contact: int
    folded: str
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
        raise _no_letters()
    return needle


def _no_letters() -> Exception:
    return invalid("query.q", "give at least one letter or digit to search for", "q")


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
    dialect = session.get_bind().dialect.name
    needle = await _folded(session, q, dialect)
    values = parameters(needle, viewer, after)
    privileged = viewer.user_id is None
    single = is_one_word(needle)
    rows: list[Any] = []
    for tier in tiers(needle, after):
        paged = after is not None and after.tier == tier
        shape = sql.Shape(dialect, tier, privileged=privileged, paged=paged, single=single)
        wanted = limit + 1 - len(rows)
        if tier == sql.FUZZY:
            rows += await _fuzzy(session, shape, values, after if paged else None, wanted)
        else:
            if tier == sql.NAME_PREFIX and not single and dialect == "postgresql":
                values["word_low"], values["word_high"] = await _rarest_range(session, needle)
            statement = sql.statement(shape)
            found = await session.execute(statement, values | {"limit": wanted})
            rows += [row._mapping for row in found]
        if len(rows) > limit:
            break
    items = [item(row, privileged=privileged) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]
    key = ("tier", "rank", "not_contact", "folded", "username")
    return items, Position(*(last[name] for name in key))


async def _folded(session: AsyncSession, q: str, dialect: str) -> str:
    """The needle (``normalize_query``), on PostgreSQL folded by the function that folded
    what it is compared with (``profilestore_fold``: ``unaccent``'s rules) unless it is ASCII
    (which ``unaccent`` leaves alone: lower case is all, no round trip)."""
    needle = normalize_query(q)
    raw = q.strip().removeprefix("@").strip()
    if dialect != "postgresql" or raw.isascii():
        return needle
    folded = await session.scalar(select(func.profilestore_fold(literal(raw, String()))))
    if not folded:
        raise _no_letters()
    return str(folded)


async def _fuzzy(
    session: AsyncSession,
    shape: sql.Shape,
    values: dict[str, Any],
    after: Position | None,
    wanted: int,
) -> list[Any]:
    """The fuzzy tier's first ``wanted`` matches: its words, most similar first, read in
    chunks of whole similarities (``chunks``) until the page is full, so that a page of a
    common word's holders reads no other word."""
    nearest = sql.nearest_words(shape.dialect, single=shape.single, needle=values["needle"])
    words = [(row.word, row.similarity) for row in await session.execute(nearest, values)]
    if after is not None:  # the words before the cursor's similarity hold no later match
        words = [(word, similarity) for word, similarity in words if -similarity >= after.rank]
    statement = sql.statement(shape)
    rows: list[Any] = []
    if not words:
        return rows
    async with _generic_plans(session, shape.dialect):
        for chunk, top in chunks(words):
            more = {"words": chunk, "chunk_top": top, "limit": wanted - len(rows)}
            rows += [row._mapping for row in await session.execute(statement, values | more)]
            if len(rows) >= wanted:
                break
    return rows


@asynccontextmanager
async def _generic_plans(session: AsyncSession, dialect: str) -> AsyncIterator[None]:
    """PostgreSQL plans the fuzzy statement once (a generic plan) instead of for each call's
    values: planning it took 4-5 ms, running it 1-2 ms, and its plan does not depend on the
    values (each word's profiles walked from the index). The other tiers keep plans made for
    their values (a ``LIKE`` prefix needs its value to use an index)."""
    if dialect != "postgresql":
        yield
        return
    await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    try:
        yield
    finally:
        await session.execute(text("SET LOCAL plan_cache_mode TO DEFAULT"))


def chunks(words: list[tuple[str, float]], first: int = 1) -> Iterator[tuple[list[str], float]]:
    """``words`` (most similar first) in chunks of at least ``first``, then twice as many as
    the last, each ending at a change of similarity (a chunk's matches all rank before the
    next chunk's), with the similarity of its first word."""
    start, size = 0, first
    while start < len(words):
        end = min(start + size, len(words))
        while end < len(words) and words[end][1] == words[end - 1][1]:
            end += 1
        yield [word for word, _ in words[start:end]], words[start][1]
        start, size = end, size * 2


def is_one_word(needle: str) -> bool:
    """The needle is one run of letters and digits."""
    return _WORD.fullmatch(needle) is not None


def item(row: Any, *, privileged: bool) -> dict[str, Any]:
    """What a match shows: its public fields, as the owner's audiences show them to the
    caller (an admin or a service: all of them)."""
    shown = {name: row[name] for name in (*PUBLIC_FIELDS, "private_account")}
    if privileged:
        return shown
    reach: audiences.Reach = "contacts" if row["viewer_is_contact"] else "public"
    return audiences.view({**shown, "visibility": row["visibility"]}, reach)


def tiers(needle: str, after: Position | None) -> range:
    """The tiers to read, from the cursor's on; no fuzzy tier for short needles."""
    last = sql.FUZZY if len(needle) >= FUZZY_MIN_LENGTH else sql.NAME_PREFIX
    return range(sql.EXACT if after is None else after.tier, last + 1)


def parameters(needle: str, viewer: Viewer, after: Position | None) -> dict[str, Any]:
    """The values of the tier statements' named parameters (but ``limit`` and ``words``)."""
    prefix = _escape_like(needle) + "%"
    values: dict[str, Any] = {"needle": needle, "prefix": prefix, "word_prefix": "% " + prefix}
    values["word_low"], values["word_high"] = word_range(needle)
    values["name_low"], values["name_high"] = needle, following(needle)
    if viewer.user_id is not None:
        values["caller"] = viewer.user_id
    if after is not None:
        values |= {
            "after_rank": after.rank,
            "after_not_contact": after.not_contact,
            "after_folded": after.folded,
            "after_username": after.username,
        }
    return values


RANGE_COUNT_CAP = 1000
RANGE_COUNTS = text(
    "SELECT r.low, r.high, (SELECT count(*) FROM (SELECT 1 FROM profile_search_words AS w"
    " WHERE w.word >= r.low AND w.word < r.high LIMIT :cap) AS capped) AS holders"
    " FROM unnest(CAST(:lows AS text[]), CAST(:highs AS text[])) AS r(low, high)"
    " ORDER BY holders, r.low"
).bindparams(bindparam("cap", RANGE_COUNT_CAP, type_=Integer()))


def range_words(needle: str) -> list[str]:
    """The needle's distinct words that a range of search words can start with."""
    return sorted({word[:WORD_LENGTH] for word in _WORD.findall(needle) if len(word) >= 2})


async def _rarest_range(session: AsyncSession, needle: str) -> tuple[str, str]:
    """For a needle of several words: the range of its word that the fewest profiles' words
    start with (counted up to ``RANGE_COUNT_CAP`` each, from the index). Any of its words of
    two letters or more will do (each starts a word of a display name that starts with the
    needle); walking the commonest (``katharine`` of ``katharine.wang1``) read and rejected
    ~10,000 profiles (120 ms on a million)."""
    words = range_words(needle)
    if len(words) < 2:
        return word_range(needle)
    lows, highs = words, [following(word) for word in words]
    found = await session.execute(RANGE_COUNTS, {"lows": lows, "highs": highs})
    low, high, _ = found.first() or (*word_range(needle), 0)
    return str(low), str(high)


def word_range(needle: str) -> tuple[str, str]:
    """The search words a display name matching ``needle`` by a word start must hold one
    of: those starting with the needle's longest word (each word of the needle starts a word
    of such a display name), as a range ``[low, high)`` in byte (code point) order."""
    words = _WORD.findall(needle) or [needle]
    low = max(words, key=len)[:WORD_LENGTH]
    return low, following(low)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_position(position: Position) -> str:
    key = [position.tier, position.rank, position.not_contact, position.folded, position.username]
    raw = json.dumps(key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str) -> Position:
    """The position a cursor names; a 422 on ``query.cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tier, rank, not_contact, folded, username = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise _bad_cursor() from None
    if (
        tier not in (EXACT, USERNAME_PREFIX, NAME_PREFIX, FUZZY)
        or not isinstance(rank, int | float)
        or isinstance(rank, bool)
        or not -1.0 <= rank <= 0.0
        or not_contact not in (0, 1)
        or not isinstance(folded, str)
        or not isinstance(username, str)
    ):
        raise _bad_cursor()
    return Position(tier, float(rank), not_contact, folded, username)


def _bad_cursor() -> Exception:
    return invalid("query.cursor", "not a cursor from this API", "cursor")
