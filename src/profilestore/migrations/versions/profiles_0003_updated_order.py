"""profiles: an index in (updated_at, user_id) order, the order of the admin listing and of
the bulk export (keyset pages and ``updated_since`` read it instead of sorting the table)

Revision ID: profiles_0003
Revises: profiles_0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "profiles_0003"
down_revision = "profiles_0002"
branch_labels = None
depends_on = None

INDEX = "ix_profiles_updated_at_user_id"


def upgrade() -> None:
    op.create_index(INDEX, "profiles", ["updated_at", "user_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="profiles")
