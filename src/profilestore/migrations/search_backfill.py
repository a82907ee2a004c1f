"""The search words of existing profiles on SQLite, made in Python (the search's own
folding), as migrations profiles_0008 and profiles_0009 fill them; PostgreSQL's backfills
are SQL in those migrations."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

BATCH = 1000


def fill_in_batches(bind: sa.engine.Connection, columns: Sequence[str]) -> None:
    """Insert the ``profile_search_words`` rows of every profile (only ``columns``: those of
    the revision running) and each new word once into ``search_words``, a batch of profiles
    at a time in user_id order."""
    from profilestore.domains.profiles.search_words import rows_of

    profiles = sa.table(
        "profiles",
        sa.column("user_id", sa.Uuid()),
        sa.column("username", sa.String()),
        sa.column("display_name", sa.String()),
    )
    owned = sa.table(
        "profile_search_words",
        *(sa.column(name, sa.Uuid() if name == "user_id" else None) for name in columns),
    )
    known = sa.table("search_words", sa.column("word"))
    after = None
    while True:
        statement = sa.select(profiles).order_by(profiles.c.user_id).limit(BATCH)
        if after is not None:
            statement = statement.where(profiles.c.user_id > after)
        rows = bind.execute(statement).all()
        if not rows:
            return
        pairs = [
            {name: pair[name] for name in columns}
            for row in rows
            for pair in rows_of(row.user_id, row.username, row.display_name)
        ]
        if pairs:
            bind.execute(owned.insert(), pairs)
            _add_new_words(bind, known, sorted({pair["word"] for pair in pairs}))
        after = rows[-1].user_id


def _add_new_words(bind: sa.engine.Connection, known: sa.TableClause, words: list[str]) -> None:
    stored = set(bind.execute(sa.select(known.c.word).where(known.c.word.in_(words))).scalars())
    new = [{"word": word} for word in words if word not in stored]
    if new:
        bind.execute(known.insert(), new)
