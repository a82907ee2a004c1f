"""social: contacts and blocks (legacy 0003 without the owner keys: link_social_0001)

Revision ID: social_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "social_0001"
down_revision = None
branch_labels = ("social",)
depends_on = "platform_0001"


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("contact_user_id", sa.Uuid(), nullable=False),
        sa.Column("nickname", sa.String(64), nullable=True),
        sa.Column("is_favorite", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "contact_user_id", name=op.f("pk_contacts")),
    )
    op.create_index(
        "ix_contacts_favorites", "contacts", ["user_id", "is_favorite", "contact_user_id"]
    )
    op.create_table(
        "blocks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("blocked_user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(280), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "blocked_user_id", name=op.f("pk_blocks")),
    )


def downgrade() -> None:
    op.drop_table("blocks")
    op.drop_index("ix_contacts_favorites", table_name="contacts")
    op.drop_table("contacts")
