"""profiles: on SQLite, an FTS5 trigram index of the search words (``search_word_trigrams``,
kept by triggers on ``search_words``): the fuzzy tier's candidate words are those sharing a
trigram with the query, found by the index, instead of the similarity of every distinct word
computed in Python. PostgreSQL has its trigram index on the words since profiles_0008.

Revision ID: profiles_0010
Revises: profiles_0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "profiles_0010"
down_revision = "profiles_0009"
branch_labels = None
depends_on = None

TABLE = "search_word_trigrams"
CREATE = (
    "CREATE VIRTUAL TABLE search_word_trigrams"
    " USING fts5(word, content='search_words', tokenize='trigram')",
    "CREATE TRIGGER search_word_trigrams_insert AFTER INSERT ON search_words BEGIN"
    " INSERT INTO search_word_trigrams (rowid, word) VALUES (new.rowid, new.word); END",
    "CREATE TRIGGER search_word_trigrams_delete AFTER DELETE ON search_words BEGIN"
    " INSERT INTO search_word_trigrams (search_word_trigrams, rowid, word)"
    " VALUES ('delete', old.rowid, old.word); END",
    "CREATE TRIGGER search_word_trigrams_update AFTER UPDATE ON search_words BEGIN"
    " INSERT INTO search_word_trigrams (search_word_trigrams, rowid, word)"
    " VALUES ('delete', old.rowid, old.word);"
    " INSERT INTO search_word_trigrams (rowid, word) VALUES (new.rowid, new.word); END",
    "INSERT INTO search_word_trigrams (search_word_trigrams) VALUES ('rebuild')",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in CREATE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
