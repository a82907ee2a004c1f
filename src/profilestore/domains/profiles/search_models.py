"""Tables of people search: the words of each profile's username and display name, and the
distinct words (``search_words.py`` keeps them in step with every profile write)."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base

WORD_LENGTH = 128
"""Longer words are cut (a folded display name of 64 characters may grow: ``ß`` -> ``ss``)."""
Word = String(WORD_LENGTH).with_variant(String(WORD_LENGTH, collation="C"), "postgresql")
"""In byte order on PostgreSQL (as SQLite's default BINARY collation): the words starting
with a prefix are a range of the index, ``word >= 'mu' AND word < 'mv'``."""


class ProfileSearchWord(Base):
    """A distinct folded word (two characters or more) of the user's username or display
    name. The display name's words are here even where its audience hides it from a caller:
    the search checks that audience on the profile row."""

    __tablename__ = "profile_search_words"
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    word: Mapped[str] = mapped_column(Word, primary_key=True)
    display_word: Mapped[bool] = mapped_column(Boolean)
    """A word of the display name (searchable where its audience lets the caller see it)."""
    username_word: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """A word of the username (searchable by everyone; a word may be of both)."""
    username: Mapped[str] = mapped_column(
        String(32).with_variant(String(32, collation="C"), "postgresql")
    )
    """The profile's username (lower-case ASCII: its own folded form), in byte order: the
    order of a tier of matches, so the users of a word come in that order from the index."""


class SearchWord(Base):
    """Every word of ``profile_search_words``, once: where a fuzzy search finds its candidate
    words (a trigram index on PostgreSQL, migration profiles_0008). A word no profile holds
    any more stays (no count to keep on a row every writer of that word would update): it
    costs only its index entry, the search joins its words to live profiles."""

    __tablename__ = "search_words"
    word: Mapped[str] = mapped_column(Word, primary_key=True)


Index(
    "ix_profile_search_words_word",
    ProfileSearchWord.word,
    ProfileSearchWord.username,
    ProfileSearchWord.user_id,
    ProfileSearchWord.username_word,
)
"""The users of the words starting with a prefix (a range), or of given words; of one word,
in username order, and whether the word counts for everyone (``username_word``): all the
search's walk of a word needs (migration profiles_0009)."""
