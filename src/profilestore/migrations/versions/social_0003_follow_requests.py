"""social: follow requests to private accounts (no owner key: the requester writes the asked
user's row, as the follow counts)

Revision ID: social_0003
Revises: social_0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "social_0003"
down_revision = "social_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow_requests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("requester_user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "requester_user_id", name=op.f("pk_follow_requests")),
    )
    op.create_index(
        "ix_follow_requests_requester_user_id",
        "follow_requests",
        ["requester_user_id", "user_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_follow_requests_requester_user_id", table_name="follow_requests")
    op.drop_table("follow_requests")
