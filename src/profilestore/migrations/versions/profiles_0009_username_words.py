"""profiles: which search words are the username's. ``profile_search_words.username_word``
says a word is of the username (where ``display_word`` says of the display name; a word may
be both), and the words' index carries it: the search counts a display name's word only
where the caller may see the display name, the username's always, and now learns which it
is from the index alone as it walks a word's profiles in username order. Every profile's
words are made again here (as ``search_words.py`` makes them).

Revision ID: profiles_0009
Revises: profiles_0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from profilestore.migrations import search_backfill

revision = "profiles_0009"
down_revision = "profiles_0008"
branch_labels = None
depends_on = None

BACKFILL = (
    # The words of each profile: its folded username split on anything but letters, its
    # folded display name on anything but letters and digits, words of 2 characters or more.
    "INSERT INTO profile_search_words (user_id, word, display_word, username_word, username)"
    " SELECT p.user_id, left(w.word, 128), bool_or(w.of_display), bool_or(NOT w.of_display),"
    " p.username"
    " FROM profiles AS p, LATERAL (SELECT word, false AS of_display FROM"
    " regexp_split_to_table(profilestore_fold(p.username), '[^[:alpha:]]+') AS word"
    " UNION ALL SELECT word, true FROM"
    " regexp_split_to_table(profilestore_fold(p.display_name), '[^[:alnum:]]+') AS word) AS w"
    " WHERE length(w.word) >= 2"
    " GROUP BY p.user_id, left(w.word, 128), p.username",
    "INSERT INTO search_words (word) SELECT DISTINCT word FROM profile_search_words"
    " ON CONFLICT DO NOTHING",
)
"""The PostgreSQL backfill (the benchmark runs it again after its bulk load)."""
INDEX = "ix_profile_search_words_word"
COLUMNS = ["word", "username", "user_id", "username_word"]
"""A word's profiles in username order, and whether the word is of their username."""


def upgrade() -> None:
    op.add_column(
        "profile_search_words",
        sa.Column("username_word", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.drop_index(INDEX, table_name="profile_search_words")
    op.execute("DELETE FROM profile_search_words")
    if op.get_bind().dialect.name == "postgresql":
        for statement in BACKFILL:
            op.execute(statement)
    else:
        search_backfill.fill_in_batches(
            op.get_bind(), ("user_id", "word", "display_word", "username_word", "username")
        )
    op.create_index(INDEX, "profile_search_words", COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE profile_search_words")


def downgrade() -> None:
    op.drop_index(INDEX, table_name="profile_search_words")
    op.create_index(INDEX, "profile_search_words", ["word", "username", "user_id"])
    with op.batch_alter_table("profile_search_words") as batch:
        batch.drop_column("username_word")
