"""platform: erasures a domain service (federation) has not confirmed yet, tried again until
it does

Revision ID: platform_0004
Revises: platform_0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "platform_0004"
down_revision = "platform_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_requests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "service", name=op.f("pk_erasure_requests")),
    )
    op.create_index(
        op.f("ix_erasure_requests_next_attempt_at"), "erasure_requests", ["next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_erasure_requests_next_attempt_at"), table_name="erasure_requests")
    op.drop_table("erasure_requests")
