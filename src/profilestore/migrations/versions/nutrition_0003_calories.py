"""nutrition: the calorie ledger (legacy 0009 without the owner keys: link_nutrition_0003)

Revision ID: nutrition_0003
Revises: nutrition_0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "nutrition_0003"
down_revision = "nutrition_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nutrition_calories",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("kcal", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "event_id", name=op.f("pk_nutrition_calories")),
    )
    op.create_index(
        "ix_nutrition_calories_at",
        "nutrition_calories",
        ["user_id", "at", "event_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_nutrition_calories_at", table_name="nutrition_calories")

    op.drop_table("nutrition_calories")
