"""nutrition: hourly and daily calorie rollups in the user's timezone

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
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


def _owner(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"],
        ["profiles.user_id"],
        name=op.f(f"fk_{table}_user_id_profiles"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "nutrition_calories_hourly",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False),
        *_totals(),
        _owner("nutrition_calories_hourly"),
        sa.PrimaryKeyConstraint("user_id", "hour_start", name=op.f("pk_nutrition_calories_hourly")),
    )
    op.create_table(
        "nutrition_calories_daily",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_totals(),
        _owner("nutrition_calories_daily"),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_nutrition_calories_daily")),
    )
    op.create_table(
        "nutrition_rollup_zone",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        _owner("nutrition_rollup_zone"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_nutrition_rollup_zone")),
    )


def downgrade() -> None:
    op.drop_table("nutrition_rollup_zone")
    op.drop_table("nutrition_calories_daily")
    op.drop_table("nutrition_calories_hourly")
