"""nutrition: eating profile, goals and the calorie target history (legacy 0008 without the
owner keys: link_nutrition_0002)

Revision ID: nutrition_0002
Revises: nutrition_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "nutrition_0002"
down_revision = "nutrition_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nutrition_eating",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("diet", sa.String(length=16), nullable=True),
        sa.Column("allergies", sa.JSON(), nullable=False),
        sa.Column("excluded_foods", sa.JSON(), nullable=False),
        sa.Column("meals_per_day", sa.Integer(), nullable=True),
        sa.Column("macro_split", sa.JSON(), nullable=True),
        sa.Column("calorie_target_override", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_nutrition_eating")),
    )
    op.create_table(
        "nutrition_goals",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.Column("goal_type", sa.String(length=16), nullable=False),
        sa.Column("target_weight_kg", sa.Float(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("rate_kg_per_week", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "goal_id", name=op.f("pk_nutrition_goals")),
    )
    op.create_table(
        "nutrition_targets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kcal", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("clamped", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "effective_at", name=op.f("pk_nutrition_targets")),
    )


def downgrade() -> None:
    op.drop_table("nutrition_targets")
    op.drop_table("nutrition_goals")
    op.drop_table("nutrition_eating")
