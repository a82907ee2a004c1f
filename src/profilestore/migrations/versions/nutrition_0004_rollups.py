"""nutrition: hourly and daily calorie rollups in the user's timezone (legacy 0010 without the
owner keys: link_nutrition_0004)

Revision ID: nutrition_0004
Revises: nutrition_0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "nutrition_0004"
down_revision = "nutrition_0003"
branch_labels = None
depends_on = None


def _totals() -> list[sa.Column[Any]]:
    return [
        sa.Column("consumed_mkcal", sa.BigInteger(), nullable=False),
        sa.Column("consumed_count", sa.Integer(), nullable=False),
        sa.Column("activity_mkcal", sa.BigInteger(), nullable=False),
        sa.Column("activity_count", sa.Integer(), nullable=False),
        sa.Column("other_mkcal", sa.BigInteger(), nullable=False),
        sa.Column("other_count", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "nutrition_calories_hourly",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False),
        *_totals(),
        sa.PrimaryKeyConstraint("user_id", "hour_start", name=op.f("pk_nutrition_calories_hourly")),
    )
    op.create_table(
        "nutrition_calories_daily",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_totals(),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_nutrition_calories_daily")),
    )
    op.create_table(
        "nutrition_rollup_zone",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_nutrition_rollup_zone")),
    )


def downgrade() -> None:
    op.drop_table("nutrition_rollup_zone")
    op.drop_table("nutrition_calories_daily")
    op.drop_table("nutrition_calories_hourly")
