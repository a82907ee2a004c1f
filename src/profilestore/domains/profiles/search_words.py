"""The search words of a profile (``search_models.py``), written in the transaction of every
profile write that changes its username or display name; a deletion removes them with the
profile (``service.user_deleted``, and the foreign key's cascade)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Integer, String, Uuid, bindparam, delete, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles.folding import fold
from profilestore.domains.profiles.search_models import (
    WORD_LENGTH,
    ProfileSearchWord,
    SearchWord,
)

WORD = re.compile(r"[^\W_]+")
"""A word of a display name: a run of letters and digits (as pg_trgm's words;
``regexp_split_to_table`` on ``[^[:alnum:]]+`` in the backfill)."""
USERNAME_WORD = re.compile(r"[^\W\d_]+")
"""A word of a username: a run of letters (``[^[:alpha:]]+``), so that the numbers many
usernames end with do not make each a word of its own (``anna.lee1987``: anna, lee)."""
MIN_LENGTH = 2
"""Shorter words are left out (one letter says little; a one-letter query matches by the
username and display name prefixes only)."""


def words_of(text: str | None, pattern: re.Pattern[str] = WORD) -> set[str]:
    """The distinct folded words of ``text``, of at least ``MIN_LENGTH`` characters."""
    if not text:
        return set()
    return {w[:WORD_LENGTH] for w in pattern.findall(fold(text)) if len(w) >= MIN_LENGTH}


_PG_INDEX = text(
    "WITH words AS (SELECT left(w.word, :length) AS word, bool_or(w.of_display) AS display_word,"
    " bool_or(NOT w.of_display) AS username_word FROM (SELECT word, false AS of_display FROM"
    " regexp_split_to_table(profilestore_fold(:username), '[^[:alpha:]]+') AS word"
    " UNION ALL SELECT word, true FROM"
    " regexp_split_to_table(profilestore_fold(:display_name), '[^[:alnum:]]+') AS word) AS w"
    " WHERE length(w.word) >= :shortest GROUP BY left(w.word, :length)),"
    " owned AS (INSERT INTO profile_search_words"
    " (user_id, word, display_word, username_word, username)"
    " SELECT :user_id, word, display_word, username_word, :username FROM words)"
    " INSERT INTO search_words (word) SELECT word FROM words ORDER BY word"
    " ON CONFLICT DO NOTHING"
).bindparams(
    bindparam("user_id", type_=Uuid()),
    bindparam("username", type_=String()),
    bindparam("display_name", type_=String()),
    bindparam("length", WORD_LENGTH, type_=Integer()),
    bindparam("shortest", MIN_LENGTH, type_=Integer()),
)
"""PostgreSQL: the words as migration profiles_0009 makes them, folded by the function the
search folds its query with (``profilestore_fold``: ``unaccent``'s rules, which Python's
folding follows only for the common letters), new words claimed in word order."""


async def index_profile(
    session: AsyncSession, user_id: uuid.UUID, username: str, display_name: str | None
) -> None:
    """Replace the user's words by those of ``username`` and ``display_name``."""
    await session.execute(delete(ProfileSearchWord).where(ProfileSearchWord.user_id == user_id))
    if session.get_bind().dialect.name == "postgresql":
        names = {"user_id": user_id, "username": username, "display_name": display_name}
        await session.execute(_PG_INDEX, names)
        return
    rows = rows_of(user_id, username, display_name)
    if not rows:
        return
    known = sqlite_insert(SearchWord).on_conflict_do_nothing(index_elements=["word"])
    await session.execute(known, [{"word": row["word"]} for row in rows])
    await session.execute(sqlite_insert(ProfileSearchWord), rows)


def rows_of(user_id: uuid.UUID, username: str, display_name: str | None) -> list[dict[str, Any]]:
    """The ``profile_search_words`` rows of a profile, in word order (the order writers
    claim new words in: two writers of the same new words do not deadlock)."""
    of_username = words_of(username, USERNAME_WORD)
    of_display = words_of(display_name)
    return [
        {
            "user_id": user_id,
            "word": word,
            "display_word": word in of_display,
            "username_word": word in of_username,
            "username": username,
        }
        for word in sorted(of_username | of_display)
    ]


async def forget(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user's words (the distinct words stay: see ``SearchWord``)."""
    await session.execute(delete(ProfileSearchWord).where(ProfileSearchWord.user_id == user_id))
