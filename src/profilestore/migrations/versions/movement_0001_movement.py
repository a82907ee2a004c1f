"""movement: training profiles and the programme catalogue (legacy 0011 without the owner
keys: link_movement_0001)

Revision ID: movement_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "movement_0001"
down_revision = None
branch_labels = ("movement",)
depends_on = "platform_0002"


def upgrade() -> None:
    op.create_table(
        "movement_profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("goals", sa.JSON(), nullable=False),
        sa.Column("experience", sa.String(length=16), nullable=True),
        sa.Column("days_per_week", sa.Integer(), nullable=True),
        sa.Column("session_minutes", sa.Integer(), nullable=True),
        sa.Column("equipment", sa.JSON(), nullable=True),
        sa.Column("preferred_activities", sa.JSON(), nullable=False),
        sa.Column("limitations", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_movement_profiles")),
    )
    op.create_table(
        "movement_programs",
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("goals", sa.JSON(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("days_per_week", sa.Integer(), nullable=False),
        sa.Column("session_minutes", sa.Integer(), nullable=False),
        sa.Column("equipment", sa.JSON(), nullable=False),
        sa.Column("loads", sa.JSON(), nullable=False),
        sa.Column("activities", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_movement_programs")),
    )


def downgrade() -> None:
    op.drop_table("movement_programs")
    op.drop_table("movement_profiles")
