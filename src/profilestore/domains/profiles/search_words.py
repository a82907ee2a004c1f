"""The search words of a profile (``search_models.py``), written in the transaction of every
profile write that changes its username or display name; a deletion removes them with the
profile (``service.user_deleted``, and the foreign key's cascade)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    from profilestore.domains.profiles.admin import fold  # admin imports the service

    if not text:
        return set()
    return {w[:WORD_LENGTH] for w in pattern.findall(fold(text)) if len(w) >= MIN_LENGTH}


async def index_profile(
    session: AsyncSession, user_id: uuid.UUID, username: str, display_name: str | None
) -> None:
    """Replace the user's words by those of ``username`` and ``display_name``."""
    await session.execute(delete(ProfileSearchWord).where(ProfileSearchWord.user_id == user_id))
    rows = rows_of(user_id, username, display_name)
    if not rows:
        return
    postgresql = session.get_bind().dialect.name == "postgresql"
    insert = postgresql_insert if postgresql else sqlite_insert
    known = insert(SearchWord).on_conflict_do_nothing(index_elements=["word"])
    await session.execute(known, [{"word": row["word"]} for row in rows])
    await session.execute(insert(ProfileSearchWord), rows)


def rows_of(user_id: uuid.UUID, username: str, display_name: str | None) -> list[dict[str, Any]]:
    """The ``profile_search_words`` rows of a profile, in word order (the order writers
    claim new words in: two writers of the same new words do not deadlock)."""
    of_display = words_of(display_name)
    words = sorted(words_of(username, USERNAME_WORD) | of_display)
    return [
        {
            "user_id": user_id,
            "word": word,
            "display_word": word in of_display,
            "username": username,
        }
        for word in words
    ]


async def forget(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user's words (the distinct words stay: see ``SearchWord``)."""
    await session.execute(delete(ProfileSearchWord).where(ProfileSearchWord.user_id == user_id))
