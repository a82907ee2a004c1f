"""People search: prefix and typo-tolerant matches on the username and the display name,
case- and accent-insensitive, ranked and keyset-paged.

Rank order: the tier (0 an exact username or display name, 1 a prefix of the username, 2 a
prefix of the display name or of one of its words, 3 a fuzzy match), then in the fuzzy tier
the trigram similarity (best first), then the caller's contacts before others, then the
username (unique, so the order is total and a cursor names a position in it: ``Position``).

A display name counts only where the caller may see it (its audience, ``visibility``); a
private account is found only by its owner's contacts; nobody who blocks the caller is found.
Admins and services find everyone and get no contacts boost.

Each tier is one statement, run in tier order until the page is full: the fuzzy tier (the
costly one) runs only when the exact and prefix matches do not fill the page. Within a tier
the caller's contacts and the others are two branches with their own ``ORDER BY ... LIMIT``,
so each can stop early. Values come as named parameters (``parameters``), so a statement
depends only on the tier, the viewer kind and whether it continues a page: each is built once
(``tier_statement``).

PostgreSQL folds with ``profilestore_fold`` (``lower(unaccent(..))``, migration
profiles_0005) and answers exact matches and prefixes from b-tree indexes on the folded
username and display name (profiles_0005, profiles_0007). Word starts and fuzzy matches come
from the search words (``search_models.py``, migration profiles_0008, kept by
``search_words.py``): a display name's word start from a range of words, a fuzzy match from
the profiles holding one of the words most similar to the needle (pg_trgm's ``%``, trigram
similarity at least ``pg_trgm.similarity_threshold``, 0.3 by default, through a trigram index
of the distinct words), each candidate then checked and ranked on its profile row
(``similarity`` of the username, the display name or its best word). SQLite runs the same
statements with the same functions written in Python here (registered on each connection by
``register_sqlite_functions``): fine for the embedded default's sizes.
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
    Float,
    Integer,
    Select,
    String,
    Subquery,
    Uuid,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from profilestore.domains.profiles import audiences
from profilestore.domains.profiles.admin import fold
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.schemas import PUBLIC_FIELDS
from profilestore.domains.profiles.search_models import (
    WORD_LENGTH,
    ProfileSearchWord,
    SearchWord,
)
from profilestore.platform import registry
from profilestore.platform.errors import invalid

EXACT, USERNAME_PREFIX, NAME_PREFIX, FUZZY = 0, 1, 2, 3
FUZZY_MIN_LENGTH = 3
"""Shorter queries match by prefix only (a trigram of one or two letters says little)."""
SIMILARITY_THRESHOLD = 0.3
"""pg_trgm's default ``similarity_threshold``; the SQLite similarity uses the same."""
FUZZY_WORDS = 50
"""The fuzzy tier's candidates: the profiles holding one of the words most similar to the
needle, at most this many words (``search_words``)."""
SELECTED = (*PUBLIC_FIELDS, "visibility", "private_account")
"""What a match reads: the public fields, and what the viewer's field filter needs."""
_WORD = re.compile(r"[^\W_]+")
_CALLER = bindparam("caller", type_=Uuid())
_LIMIT = bindparam("limit", type_=Integer())
_STATEMENTS: dict[tuple[str, int, bool, bool], tuple[tuple[Any, ...], Select[Any]]] = {}


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
    needle = normalize_query(q)
    dialect = session.get_bind().dialect.name
    values = parameters(needle, viewer, after)
    privileged = viewer.user_id is None
    rows: list[Any] = []
    for tier in tiers(needle, after):
        paged = after is not None and after.tier == tier
        statement = tier_statement(dialect, tier, privileged=privileged, paged=paged)
        wanted = {"limit": limit + 1 - len(rows)}
        rows += [row._mapping for row in await session.execute(statement, values | wanted)]
        if len(rows) > limit:
            break
    items = [item(row, privileged=privileged) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]
    key = ("tier", "rank", "not_contact", "folded", "username")
    return items, Position(*(last[name] for name in key))


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
    last = FUZZY if len(needle) >= FUZZY_MIN_LENGTH else NAME_PREFIX
    return range(EXACT if after is None else after.tier, last + 1)


def parameters(needle: str, viewer: Viewer, after: Position | None) -> dict[str, Any]:
    """The values of the tier statements' named parameters (but ``limit``)."""
    prefix = _escape_like(needle) + "%"
    values: dict[str, Any] = {"needle": needle, "prefix": prefix, "word_prefix": "% " + prefix}
    values["word_low"], values["word_high"] = word_range(needle)
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


def word_range(needle: str) -> tuple[str, str]:
    """The search words a display name matching ``needle`` by a word start must hold one
    of: those starting with the needle's longest word (each word of the needle starts a word
    of such a display name), as a range ``[low, high)`` in byte (code point) order."""
    words = _WORD.findall(needle) or [needle]
    low = max(words, key=len)[:WORD_LENGTH]
    following = ord(low[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters of a text
        following = 0xE000
    if following > 0x10FFFF:
        return low, low + "\U0010ffff"
    return low, low[:-1] + chr(following)


def tier_statement(dialect: str, tier: int, *, privileged: bool, paged: bool) -> Select[Any]:
    """One tier's matches in rank order, at most ``limit`` (after the cursor if ``paged``):
    for a user, the contacts branch and the others' branch, each limited on its own. Built
    once per shape and installed domains (building one costs milliseconds)."""
    key = (dialect, tier, privileged, paged)
    installed = registry.installed()
    cached = _STATEMENTS.get(key)
    if cached is not None and _same(cached[0], installed):
        return cached[1]
    statement = _build(dialect, tier, privileged=privileged, paged=paged)
    _STATEMENTS[key] = (installed, statement)
    return statement


def _same(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=True))


def _build(dialect: str, tier: int, *, privileged: bool, paged: bool) -> Select[Any]:
    match = _Match(dialect, privileged=privileged)
    if privileged:
        return match.branch(tier, 1, paged)
    contacts, others = (match.branch(tier, boost, paged).subquery() for boost in (0, 1))
    ranked = union_all(select(contacts), select(others)).subquery()
    order = (ranked.c.rank, ranked.c.not_contact, ranked.c.folded, ranked.c.username)
    return select(ranked).order_by(*order).limit(_LIMIT)


class _Match:
    """The conditions and rank of one dialect's search, for one kind of viewer."""

    def __init__(self, dialect: str, *, privileged: bool) -> None:
        self.postgresql = dialect == "postgresql"
        self.privileged = privileged
        self.name = func.profilestore_fold(Profile.username)
        self.folded = self.name.collate("C") if self.postgresql else self.name
        """The folded username in byte order: an index's (profiles_0007), so the prefixes of a
        username come as a range of it, in order (no sort of every match of ``ma``)."""
        self.display = func.profilestore_fold(Profile.display_name)
        self.shown = true() if privileged else _display_name_shown()

    def branch(self, tier: int, not_contact: int, paged: bool) -> Select[Any]:
        """The tier's matches that are (0) or are not (1) the caller's contacts."""
        if tier == NAME_PREFIX and self.postgresql and not_contact == 1:
            return self.word_walk(paged)
        words = self.nearest_words() if tier == FUZZY else None
        rank = self.rank(tier, words)
        statement = (
            select(
                *(Profile.__table__.c[field] for field in SELECTED),
                literal(tier, Integer).label("tier"),
                rank.label("rank"),
                literal(not_contact, Integer).label("not_contact"),
                self.folded.label("folded"),
                self.viewer_is_contact().label("viewer_is_contact"),
            )
            .where(self.tier(tier, words), *self.visible(not_contact))
            .order_by(rank, self.folded, Profile.username)
            .limit(_LIMIT)
        )
        if words is not None:
            statement = statement.join_from(Profile, words, words.c.user_id == Profile.user_id)
        if paged:
            statement = statement.where(_after(rank, not_contact, self.folded))
        return statement

    def tier(self, tier: int, words: Subquery | None = None) -> ColumnElement[bool]:
        """The rows of ``tier``: each tier leaves out the rows of the tiers before it."""
        if tier == EXACT:
            return self.exact()
        if tier == USERNAME_PREFIX:
            return and_(self.name_starts(), self.exact().is_not(true()))
        if tier == NAME_PREFIX:
            return and_(self.word_starts(), *self.name_prefix())
        assert words is not None
        found = or_(self.similar(), and_(self.shown, words.c.display_best.is_not(None)))
        return and_(found, self.starts().is_not(true()))

    def name_prefix(self) -> tuple[ColumnElement[bool], ...]:
        """A shown display name starting with the needle, or one of its words (after a
        space), that is no match of an earlier tier."""
        needle = bindparam("needle", type_=String())
        return (self.shown, self.display_starts(), ~self.name_starts(), self.display != needle)

    def word_walk(self, paged: bool) -> Select[Any]:
        """The display name's word starts of those who are not the caller's contacts, on
        PostgreSQL: for each word in the needle's range (``search_words``), its profiles in
        username order from the index (``LATERAL ... LIMIT``), at most ``limit`` each, the
        first ``limit`` of them all. A profile counts under the first of its words in the
        range. Where matching the candidates of every word of the range and sorting them
        took 0.1-0.4 s for a common surname on a million profiles, this reads ``limit`` rows
        a word (the word's profiles a subquery of their own, ``OFFSET 0``: the planner keeps
        their index order instead of guessing from the filters that few pass and sorting
        them all). The contacts' branch stays the candidates' match: a few contacts."""
        low = bindparam("word_low", type_=String())
        high = bindparam("word_high", type_=String())
        owned, earlier = ProfileSearchWord, aliased(ProfileSearchWord)
        words = select(SearchWord.word).where(SearchWord.word >= low, SearchWord.word < high)
        in_range = words.subquery("words")
        first = ~exists().where(
            earlier.user_id == owned.user_id, earlier.word >= low, earlier.word < owned.word
        )
        ordered = (
            select(owned.user_id, owned.username)
            .where(owned.word == in_range.c.word, first)
            .order_by(owned.username)
            .offset(0)
            .correlate(in_range)
            .lateral("ordered")
        )
        rank = literal(0.0, Float)
        matches = (
            select(
                *(Profile.__table__.c[field] for field in SELECTED),
                literal(NAME_PREFIX, Integer).label("tier"),
                rank.label("rank"),
                literal(1, Integer).label("not_contact"),
                ordered.c.username.label("folded"),
                self.viewer_is_contact().label("viewer_is_contact"),
            )
            .join_from(ordered, Profile, Profile.user_id == ordered.c.user_id)
            .where(*self.name_prefix(), *self.visible(1))
            .order_by(ordered.c.username)
            .limit(_LIMIT)
        )
        if paged:
            matches = matches.where(_after(rank, 1, ordered.c.username))
        walked = matches.lateral("matches")
        return (
            select(walked)
            .select_from(in_range)
            .join(walked, true())
            .order_by(walked.c.folded, walked.c.username)
            .limit(_LIMIT)
        )

    def word_starts(self) -> ColumnElement[bool]:
        """The candidates of the display name's word starts: the profiles holding a search
        word in the needle's range (``word_range``; an index range, where matching the
        display names themselves was a trigram index's check of every profile sharing the
        needle's trigrams). The words of a hidden display name are there too: the caller's
        view of it is checked on the profile row (``shown``)."""
        low = bindparam("word_low", type_=String())
        high = bindparam("word_high", type_=String())
        word = ProfileSearchWord.word
        owners = select(ProfileSearchWord.user_id).where(word >= low, word < high)
        return Profile.user_id.in_(owners)

    def nearest_words(self) -> Subquery:
        """The candidates of a fuzzy match, a row per profile: the profiles holding one of
        the ``FUZZY_WORDS`` words most similar to the needle (from the small
        ``search_words``, by its trigram index), with the best similarity of their display
        name's words (``display_best``: it counts only where the caller may see the display
        name, ``shown``). The username is compared as a whole (its words here are runs of
        letters, without the digits that tell ``anna1`` from ``anna2``). A profile similar
        to the needle only as a whole (no word of it similar enough, as a long needle of
        several words can be) is not found."""
        needle = bindparam("needle", type_=String())
        measure = func.similarity if self.postgresql else func.profilestore_similarity
        similarity = measure(SearchWord.word, needle).label("similarity")
        nearest = (
            select(SearchWord.word, similarity)
            .where(self.near(SearchWord.__table__.c.word))
            .order_by(similarity.desc(), SearchWord.word)
            .limit(FUZZY_WORDS)
            .subquery()
        )
        owned = ProfileSearchWord
        of_display = case((owned.display_word, nearest.c.similarity))
        return (
            select(owned.user_id, func.max(of_display).label("display_best"))
            .join_from(nearest, owned, owned.word == nearest.c.word)
            .group_by(owned.user_id)
            .subquery()
        )

    def exact(self) -> ColumnElement[bool]:
        needle = bindparam("needle", type_=String())
        return or_(self.folded == needle, and_(self.shown, self.display == needle))

    def starts(self) -> ColumnElement[bool]:
        return or_(self.name_starts(), and_(self.shown, self.display_starts()))

    def name_starts(self) -> ColumnElement[bool]:
        return self.folded.like(bindparam("prefix", type_=String()), escape="\\")

    def display_starts(self) -> ColumnElement[bool]:
        """The display name or one of its words starts with the needle."""
        prefix = bindparam("prefix", type_=String())
        word = bindparam("word_prefix", type_=String())
        return or_(self.display.like(prefix, escape="\\"), self.display.like(word, escape="\\"))

    def similar(self) -> ColumnElement[bool]:
        return or_(self.near(self.name), and_(self.shown, self.near(self.display)))

    def near(self, folded: ColumnElement[Any]) -> ColumnElement[bool]:
        """Trigram similarity to the needle at least the threshold (``%`` on PostgreSQL)."""
        needle = bindparam("needle", type_=String())
        if self.postgresql:
            return folded.op("%")(needle)
        threshold = literal(SIMILARITY_THRESHOLD, Float)
        return func.profilestore_similarity(folded, needle) >= threshold

    def rank(self, tier: int, words: Subquery | None = None) -> ColumnElement[float]:
        """0 in the exact and prefix tiers; minus the best similarity in the fuzzy tier: of
        the username, the display name (if shown) or one of their words."""
        if tier != FUZZY:
            return literal(0.0, Float)
        assert words is not None
        needle = bindparam("needle", type_=String())
        measure = func.similarity if self.postgresql else func.profilestore_similarity
        best = func.greatest if self.postgresql else func.max
        zero = literal(0.0, Float)
        display = case((self.shown, measure(self.display, needle)), else_=zero)
        words_best = func.coalesce(words.c.display_best, zero)
        shown_words = case((self.shown, words_best), else_=zero)
        return -best(measure(self.name, needle), display, shown_words)

    def visible(self, not_contact: int) -> list[ColumnElement[bool]]:
        """Leave out the caller, those who block them and the private accounts of people
        who do not have them as a contact; keep the caller's contacts (0) or others (1)."""
        if self.privileged:
            return []
        boosted = registry.is_contact(_CALLER, Profile.user_id)
        return [
            Profile.user_id != _CALLER,
            *registry.viewer_filters(Profile.user_id, _CALLER),
            or_(Profile.private_account == false(), self.viewer_is_contact()),
            boosted if not_contact == 0 else ~boosted,
        ]

    def viewer_is_contact(self) -> ColumnElement[bool]:
        """The owner has the caller among their contacts (the caller's reach)."""
        return false() if self.privileged else registry.is_contact(Profile.user_id, _CALLER)


def _display_name_shown() -> ColumnElement[bool]:
    """The display name's audience lets the caller see it (public by default)."""
    audience = Profile.visibility["display_name"].as_string()
    owner_has_caller = registry.is_contact(Profile.user_id, _CALLER)
    return or_(
        audience.is_(None),
        audience == "public",
        and_(audience == "contacts", owner_has_caller),
    )


def _after(
    rank: ColumnElement[float], not_contact: int, folded: ColumnElement[str]
) -> ColumnElement[bool]:
    """After the cursor within its tier: (rank, boost, folded username, username) beyond it."""
    key = (
        bindparam("after_rank", type_=Float()),
        bindparam("after_not_contact", type_=Integer()),
        bindparam("after_folded", type_=String()),
        bindparam("after_username", type_=String()),
    )
    boost = literal(not_contact, Integer)
    return tuple_(rank, boost, folded, Profile.username) > tuple_(*key)


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
