"""nutrition: body metrics and weight history (legacy 0007 without the owner keys:
link_nutrition_0001)

Revision ID: nutrition_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "nutrition_0001"
down_revision = None
branch_labels = ("nutrition",)
depends_on = "platform_0002"


def upgrade() -> None:
    op.create_table(
        "nutrition_body",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("height_cm", sa.Float(), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("activity_level", sa.String(length=20), nullable=True),
        sa.Column("body_fat_percent", sa.Float(), nullable=True),
        sa.Column("units", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_nutrition_body")),
    )
    op.create_table(
        "nutrition_weights",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_nutrition_weights")),
    )


def downgrade() -> None:
    op.drop_table("nutrition_weights")
    op.drop_table("nutrition_body")
