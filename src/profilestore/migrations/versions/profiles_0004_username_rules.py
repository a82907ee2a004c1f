"""profiles: usernames held for their former owner, and when each user last changed theirs

Revision ID: profiles_0004
Revises: profiles_0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "profiles_0004"
down_revision = "profiles_0003"
branch_labels = None
depends_on = None


def _owner_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"],
        ["profiles.user_id"],
        name=op.f(f"fk_{table}_user_id_profiles"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "username_holds",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=False),
        _owner_key("username_holds"),
        sa.PrimaryKeyConstraint("user_id", "username", name=op.f("pk_username_holds")),
    )
    op.create_index("uq_username_holds_username", "username_holds", ["username"], unique=True)
    op.create_table(
        "username_changes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _owner_key("username_changes"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_username_changes")),
    )


def downgrade() -> None:
    op.drop_table("username_changes")
    op.drop_index("uq_username_holds_username", table_name="username_holds")
    op.drop_table("username_holds")
