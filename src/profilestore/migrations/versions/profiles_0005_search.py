"""profiles: people search on PostgreSQL (pg_trgm and unaccent; an immutable folding function
and trigram indexes on the folded username and display name). SQLite needs nothing here: it
searches through functions the application registers on each connection (see
domains/profiles/search.py)

Revision ID: profiles_0005
Revises: profiles_0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "profiles_0005"
down_revision = "profiles_0004"
branch_labels = None
depends_on = None

FOLD = "profilestore_fold"
INDEXES = {
    "ix_profiles_search_username": f"USING gin ({FOLD}(username) gin_trgm_ops)",
    "ix_profiles_search_display_name": f"USING gin ({FOLD}(display_name) gin_trgm_ops)",
    "ix_profiles_search_username_prefix": f"({FOLD}(username) text_pattern_ops)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'unaccent'"
        )
        .scalar_one()
    )
    # unaccent() is STABLE (its dictionary could change); naming the dictionary makes the
    # wrapper safe to declare IMMUTABLE, as an index expression must be.
    op.execute(
        f"CREATE OR REPLACE FUNCTION {FOLD}(value text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS "
        f"$$ SELECT lower({schema}.unaccent('{schema}.unaccent'::regdictionary, value)) $$"
    )
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON profiles {definition}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(f"DROP FUNCTION IF EXISTS {FOLD}(text)")
