"""social: follows, their counts, and mutes (owner keys: link_social_0002)

Revision ID: social_0002
Revises: social_0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "social_0002"
down_revision = "social_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("followed_user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "followed_user_id", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_followed_user_id", "follows", ["followed_user_id", "user_id"])
    op.create_table(
        "follow_counts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("followers_count", sa.Integer(), nullable=False),
        sa.Column("following_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_follow_counts")),
    )
    op.create_table(
        "mutes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("muted_user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "muted_user_id", name=op.f("pk_mutes")),
    )
    op.create_index("ix_mutes_muted_user_id", "mutes", ["muted_user_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_mutes_muted_user_id", table_name="mutes")
    op.drop_table("mutes")
    op.drop_table("follow_counts")
    op.drop_index("ix_follows_followed_user_id", table_name="follows")
    op.drop_table("follows")
