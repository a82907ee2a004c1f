"""The statements of people search (``search.py``): one per tier, kind of viewer, kind of
needle (one word or several) and whether it continues a page, built once each (``statement``).
Values come as named parameters (``search.parameters``).

Where the matches come from, on PostgreSQL (SQLite runs the plain form of each, fine for the
embedded default's sizes, and so does the caller's-contacts branch of each tier: a few
contacts, which the planner starts from):

- exact and username prefix (tiers 0, 1): b-tree indexes of the folded username and display
  name (migrations profiles_0005, profiles_0007);
- word starts (tier 2) and fuzzy matches (tier 3): the search words (``search_models.py``).
  For each word in play (those starting with the needle's longest word; the chunk of the
  words most similar to the needle the caller passes in ``words``), its profiles in username
  order from the index ``(word, username, user_id, username_word)``, skipping the usernames
  that start with the needle (tier 1: as two ranges of the index, so that ``ma`` does not
  read the thousands of ``maria.*`` to skip them), each walk stopped at the page
  (``LATERAL ... LIMIT``). A profile counts under its first word in range (tier 2) or its
  most similar word (tier 3). A page then reads about a page of index entries per word, not
  every holder of a common word (0.2-2.4 s for a common surname on a million profiles). For
  a needle of several words the range is that of its rarest word (``search._rarest_range``);
  the fuzzy statement runs with a generic plan (``search._generic_plans``).

A word counts for a caller if it is of the username, or of a display name the caller may
see (``counted``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Subquery,
    Uuid,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import aliased

from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.schemas import PUBLIC_FIELDS
from profilestore.domains.profiles.search_models import ProfileSearchWord, SearchWord
from profilestore.platform import registry

EXACT, USERNAME_PREFIX, NAME_PREFIX, FUZZY = 0, 1, 2, 3
SIMILARITY_THRESHOLD = 0.3
"""pg_trgm's default ``similarity_threshold``; the SQLite similarity uses the same."""
FUZZY_WORDS = 50
"""The fuzzy tier's words: at most this many, the most similar to the needle."""
SELECTED = (*PUBLIC_FIELDS, "visibility", "private_account")
"""What a match reads: the public fields, and what the viewer's field filter needs."""
_WORD_RUN = re.compile(r"[^\W_]+")
ABOVE_EVERY_USERNAME = "\U0010ffff"
"""Sorts after every username (ASCII) in byte order: the end of the last username range."""
_CALLER = bindparam("caller", type_=Uuid())
_LIMIT = bindparam("limit", type_=Integer())
_NEEDLE = bindparam("needle", type_=String())


def _param(name: str) -> Any:
    return bindparam(name, type_=String())


@dataclass(frozen=True)
class Shape:
    """What a tier statement depends on besides its values."""

    dialect: str
    tier: int
    privileged: bool
    paged: bool
    single: bool
    """The needle is one word (letters and digits): a word start of a name is then a search
    word in the needle's range (tier 2); of several, the display name's start."""


_STATEMENTS: dict[Shape, tuple[tuple[Any, ...], Select[Any]]] = {}


def statement(shape: Shape) -> Select[Any]:
    """The tier's matches in rank order, at most ``limit`` (after the cursor if ``paged``):
    for a user, the contacts branch and the others' branch, each limited on its own. Built
    once per shape and installed domains (building one costs milliseconds)."""
    installed = registry.installed()
    cached = _STATEMENTS.get(shape)
    if cached is not None and _same(cached[0], installed):
        return cached[1]
    built = _build(shape)
    _STATEMENTS[shape] = (installed, built)
    return built


def _same(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=True))


def nearest_words(dialect: str, *, single: bool, needle: str = "") -> Select[Any]:
    """The fuzzy tier's words, most similar first (``word``, ``similarity``): those at least
    as similar as the threshold (pg_trgm's ``%``, through the trigram index of the words; on
    SQLite among the ``sqlite_candidates`` of ``needle``), for a one-word needle none in its
    range (their holders are tier 2)."""
    match = _Match(Shape(dialect, FUZZY, privileged=True, paged=False, single=single))
    similarity = match.similarity(SearchWord.word).label("similarity")
    found = select(SearchWord.word, similarity).where(match.near(SearchWord.__table__.c.word))
    if not match.postgresql:
        found = found.where(sqlite_candidates(needle))
    if single:
        found = found.where(~match.in_range(SearchWord.word))
    return found.order_by(similarity.desc(), SearchWord.word).limit(FUZZY_WORDS)


def sqlite_candidates(needle: str) -> ColumnElement[bool]:
    """The words that may be similar enough to ``needle`` (SQLite), from indexes: those
    sharing one of its inner trigrams (three letters or digits of one of its words: the FTS5
    trigram index ``search_word_trigrams``, migration profiles_0010), those starting with the
    first two characters of one of its words, and the short words made of the first letter
    of one of its words and the last two of one. A word sharing none of those shares at most
    one padded trigram with it (its first letter, or its last two): too few for 0.3 with a
    needle of three characters or more. (``test_search_model`` checks this against every
    word.)"""
    words = _WORD_RUN.findall(needle)
    inner = sorted({word[i : i + 3] for word in words for i in range(len(word) - 2)})
    found: list[ColumnElement[bool]] = []
    if inner:
        query = " OR ".join(f'"{trigram}"' for trigram in inner)
        sharing = text(
            "SELECT rowid FROM search_word_trigrams WHERE search_word_trigrams MATCH :query"
        )
        found.append(literal_column("search_words.rowid").in_(sharing.bindparams(query=query)))
    for start in sorted({word[:2] for word in words if len(word) >= 2}):
        found.append(and_(SearchWord.word >= start, SearchWord.word < following(start)))
    ends = {word[-2:] for word in words if len(word) >= 2}
    short = ends | {word[0] + end for word in words for end in ends}
    if short:
        found.append(SearchWord.word.in_(sorted(short)))
    return or_(false(), *found)


def _build(shape: Shape) -> Select[Any]:
    match = _Match(shape)
    if shape.privileged:
        return match.branch(1)
    contacts, others = (match.branch(boost).subquery() for boost in (0, 1))
    ranked = union_all(select(contacts), select(others)).subquery()
    order = (ranked.c.rank, ranked.c.not_contact, ranked.c.folded, ranked.c.username)
    return select(ranked).order_by(*order).limit(_LIMIT)


class _Match:
    """The conditions and rank of one shape's matches."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.postgresql = shape.dialect == "postgresql"
        self.privileged = shape.privileged
        self.name = func.profilestore_fold(Profile.username)
        self.folded = self.name.collate("C") if self.postgresql else self.name
        """The folded username in byte order: an index's (profiles_0007), so the prefixes of a
        username come as a range of it, in order (no sort of every match of ``ma``)."""
        self.display = func.profilestore_fold(Profile.display_name)
        self.shown = true() if shape.privileged else _display_name_shown()

    def branch(self, not_contact: int) -> Select[Any]:
        """The tier's matches that are (0) or are not (1) the caller's contacts."""
        tier = self.shape.tier
        if tier >= NAME_PREFIX and self.postgresql and not_contact == 1:
            return self.walk()
        if tier == FUZZY:
            return self.fuzzy(not_contact)
        statement = self.select(literal(0.0, Float), not_contact, self.folded).where(
            self.tier_rows(), *self.visible(not_contact)
        )
        if self.shape.paged:
            statement = statement.where(_after(literal(0.0, Float), not_contact, self.folded))
        return statement.order_by(self.folded, Profile.username).limit(_LIMIT)

    def select(
        self, rank: ColumnElement[float], not_contact: int, folded: ColumnElement[str]
    ) -> Select[Any]:
        return select(
            *(Profile.__table__.c[field] for field in SELECTED),
            literal(self.shape.tier, Integer).label("tier"),
            rank.label("rank"),
            literal(not_contact, Integer).label("not_contact"),
            folded.label("folded"),
            self.viewer_is_contact().label("viewer_is_contact"),
        )

    def tier_rows(self) -> ColumnElement[bool]:
        """The profiles of tiers 0-2 (each leaving out the rows of the tiers before it)."""
        tier = self.shape.tier
        if tier == EXACT:
            return self.exact()
        if tier == USERNAME_PREFIX:
            return and_(self.name_starts(), self.exact().is_not(true()))
        if self.shape.single:
            return and_(
                self.counted_word_in_range(),
                ~self.name_starts(),
                self.display_is_needle().is_not(true()),
            )
        return and_(self.word_starts(), *self.name_prefix())

    def fuzzy(self, not_contact: int) -> Select[Any]:
        """The fuzzy matches of ``words``, the plain way: every holder of each word."""
        words = self.words()
        owned = aliased(ProfileSearchWord)
        rank = -words.c.similarity
        statement = (
            self.select(rank, not_contact, self.folded)
            .join_from(words, owned, owned.word == words.c.word)
            .join(Profile, Profile.user_id == owned.user_id)
            .where(*self.fuzzy_rows(owned, words), *self.visible(not_contact))
        )
        if self.shape.paged:
            statement = statement.where(_after(rank, not_contact, self.folded))
        return statement.order_by(rank, self.folded, Profile.username).limit(_LIMIT)

    def walk(self) -> Select[Any]:
        """The matches of those who are not the caller's contacts, on PostgreSQL: for each
        word in play and each username range outside the needle's prefix, the word's
        profiles in username order from the index (``LATERAL ... LIMIT``), the first
        ``limit`` of them all. The word's profiles are a subquery of their own (``OFFSET
        0``): the planner keeps their index order instead of guessing from the filters that
        few pass and sorting them all."""
        fuzzy = self.shape.tier == FUZZY
        words = self.words() if fuzzy else self.range_words()
        ranges = self.username_ranges()
        owned = aliased(ProfileSearchWord)
        ordered = (
            select(owned.user_id, owned.username, owned.username_word, owned.word)
            .where(
                owned.word == words.c.word,
                owned.username >= ranges.c.low,
                owned.username < ranges.c.high,
            )
            .order_by(owned.username)
            .offset(0)
            .correlate(words, ranges)
            .lateral("ordered")
        )
        rank = -words.c.similarity if fuzzy else literal(0.0, Float)
        if not fuzzy:
            rows = self.word_start_rows(ordered.c)
        else:
            rows = self.fuzzy_rows(ordered.c, words, exact_best=self.shape.paged)
        matches = (
            self.select(rank, 1, ordered.c.username)
            .join_from(ordered, Profile, Profile.user_id == ordered.c.user_id)
            .where(*rows, *self.visible(1))
            .order_by(ordered.c.username)
            .limit(_LIMIT)
        )
        if self.shape.paged:
            matches = matches.where(_after(rank, 1, ordered.c.username))
        walked = matches.correlate(words).lateral("matches")
        found = select(walked).select_from(words).join(ranges, true()).join(walked, true())
        if not fuzzy or self.shape.paged:
            return found.order_by(walked.c.rank, walked.c.folded, walked.c.username).limit(_LIMIT)
        by_user = found.distinct(walked.c.user_id).order_by(walked.c.user_id, walked.c.rank)
        best = by_user.subquery("best")  # each profile under its most similar word
        return select(best).order_by(best.c.rank, best.c.folded, best.c.username).limit(_LIMIT)

    def word_start_rows(self, owned: Any) -> list[ColumnElement[bool]]:
        """A walked word's holders that are tier 2 matches, counted under their first word
        in range (that counts: of any kind for a needle of several words, whose match is
        the display name's start)."""
        earlier = aliased(ProfileSearchWord)
        first = ~_probe(
            earlier,
            earlier.user_id == owned.user_id,
            earlier.word >= _param("word_low"),
            earlier.word < owned.word,
            self.counted(earlier) if self.shape.single else true(),
        )
        if self.shape.single:
            return [self.counted(owned), self.display_is_needle().is_not(true()), first]
        return [*self.name_prefix(), first]

    def fuzzy_rows(
        self, owned: Any, words: Any, *, exact_best: bool = True
    ) -> list[ColumnElement[bool]]:
        """A holder of one of ``words`` that is a fuzzy match (no match of an earlier tier)
        and holds no word of an earlier chunk (more similar than ``chunk_top``). With
        ``exact_best``, also counted under its most similar word only (ties: the first word);
        without, a walk leaves that to a ``DISTINCT ON`` of its rows: where most holders of
        a word (``bschneider``) also hold a more similar one (``schneider``), the check
        rejected most rows a walk read, and it read them all (60 ms on a million profiles)."""
        better = aliased(ProfileSearchWord)
        similarity = self.similarity(better.word)
        if exact_best:
            before = or_(
                similarity > words.c.similarity,
                and_(similarity == words.c.similarity, better.word < words.c.word),
            )
        else:
            before = similarity > bindparam("chunk_top", type_=Float())
        best = ~_probe(
            better,
            better.user_id == owned.user_id,
            better.word != words.c.word,
            self.counted(better),
            self.near(better.word),
            ~self.in_range(better.word) if self.shape.single else true(),
            before,
        )
        return [self.counted(owned), ~self.name_starts(), self.not_a_word_start(), best]

    def not_a_word_start(self) -> ColumnElement[bool]:
        """No match of tier 2 (nor of tier 0 by the display name, which is one)."""
        if not self.shape.single:
            return and_(self.shown, self.display_starts()).is_not(true())
        return ~self.counted_word_in_range()

    def counted_word_in_range(self) -> ColumnElement[bool]:
        """The profile has a counted word starting with the (one-word) needle."""
        owned = aliased(ProfileSearchWord)
        return _probe(
            owned, owned.user_id == Profile.user_id, self.in_range(owned.word), self.counted(owned)
        )

    def words(self) -> Subquery:
        """The chunk of fuzzy words the caller passes (``words``), with their similarity."""
        if self.postgresql:
            chunk = bindparam("words", type_=ARRAY(String()))
            given = func.unnest(chunk).table_valued("word").render_derived("given")
            word = given.c.word.collate("C")
            similarity = self.similarity(word).label("similarity")
            return select(word.label("word"), similarity).subquery("words")
        similarity = self.similarity(SearchWord.word).label("similarity")
        listed = SearchWord.word.in_(bindparam("words", expanding=True))
        return select(SearchWord.word, similarity).where(listed).subquery("words")

    def range_words(self) -> Subquery:
        """The words starting with the needle's longest word (``search.word_range``)."""
        return select(SearchWord.word).where(self.in_range(SearchWord.word)).subquery("words")

    def username_ranges(self) -> Subquery:
        """The usernames not starting with the needle, as two ranges ``[low, high)``."""
        before = select(literal("", String).label("low"), _param("name_low").label("high"))
        after = select(_param("name_high"), literal(ABOVE_EVERY_USERNAME, String))
        return union_all(before, after).subquery("ranges")

    def in_range(self, word: Any) -> ColumnElement[bool]:
        return and_(word >= _param("word_low"), word < _param("word_high"))

    def counted(self, owned: Any) -> ColumnElement[bool]:
        """The word counts for the caller: of the username, or of a display name shown."""
        return or_(owned.username_word, self.shown)

    def name_prefix(self) -> tuple[ColumnElement[bool], ...]:
        """A shown display name starting with the needle, or one of its words (after a
        space), that is no match of an earlier tier."""
        return (self.shown, self.display_starts(), ~self.name_starts(), self.display != _NEEDLE)

    def word_starts(self) -> ColumnElement[bool]:
        """The candidates of the display name's start for a needle of several words: the
        profiles holding a search word in the range of its longest word."""
        word = ProfileSearchWord.word
        owners = select(ProfileSearchWord.user_id).where(self.in_range(word))
        return Profile.user_id.in_(owners)

    def exact(self) -> ColumnElement[bool]:
        return or_(self.folded == _NEEDLE, self.display_is_needle())

    def display_is_needle(self) -> ColumnElement[bool]:
        return and_(self.shown, self.display == _NEEDLE)

    def name_starts(self) -> ColumnElement[bool]:
        return self.folded.like(_param("prefix"), escape="\\")

    def display_starts(self) -> ColumnElement[bool]:
        """The display name or one of its words (after a space) starts with the needle."""
        prefix, word = _param("prefix"), _param("word_prefix")
        return or_(self.display.like(prefix, escape="\\"), self.display.like(word, escape="\\"))

    def near(self, folded: Any) -> ColumnElement[bool]:
        """Trigram similarity to the needle at least the threshold (``%`` on PostgreSQL)."""
        if self.postgresql:
            near: ColumnElement[bool] = folded.op("%")(_NEEDLE)
            return near
        return self.similarity(folded) >= literal(SIMILARITY_THRESHOLD, Float)

    def similarity(self, folded: Any) -> ColumnElement[float]:
        measure = func.similarity if self.postgresql else func.profilestore_similarity
        return measure(folded, _NEEDLE, type_=Float())

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


def _probe(table: Any, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS a row of ``table`` (an alias) meeting ``conditions``, correlated to the other
    tables at any depth, with ``OFFSET 0``: PostgreSQL then checks it per candidate (an index
    probe) instead of turning it into a join, which could reorder a walk (a merge join wants
    its rows in user order, and the planner, guessing few candidates, sorted them all)."""
    found = select(literal(1)).select_from(table).where(*conditions).offset(0)
    return exists(found.correlate_except(table))


def following(text: str) -> str:
    """The first text in byte (code point) order after every text starting with ``text``."""
    after = ord(text[-1]) + 1
    if 0xD800 <= after <= 0xDFFF:  # surrogates are no characters of a text
        after = 0xE000
    if after > 0x10FFFF:
        return text + "\U0010ffff"
    return text[:-1] + chr(after)


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
        _param("after_folded"),
        _param("after_username"),
    )
    boost = literal(not_contact, Integer)
    return tuple_(rank, boost, folded, Profile.username) > tuple_(*key)
