"""The owner foreign keys that the link revisions add: a domain table's ``user_id`` references
``profiles.user_id`` (ON DELETE CASCADE) when that domain and profiles share one database.

A domain's own branch never names ``profiles``: a database serving only that domain has no
such table. The link revisions (``link_<domain>``) depend on both branches, so they run only
where both are migrated (the all-in-one default). On SQLite a constraint is added by copying
the table (Alembic's batch mode); PostgreSQL alters it in place."""

from __future__ import annotations

from alembic import op


def name(table: str) -> str:
    return f"fk_{table}_user_id_profiles"


def add(*tables: str) -> None:
    for table in tables:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                op.f(name(table)), "profiles", ["user_id"], ["user_id"], ondelete="CASCADE"
            )


def drop(*tables: str) -> None:
    for table in reversed(tables):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(name(table)), type_="foreignkey")
