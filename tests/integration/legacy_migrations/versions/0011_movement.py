"""movement: training profiles and the programme catalogue

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


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
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["profiles.user_id"],
            name=op.f("fk_movement_profiles_user_id_profiles"),
            ondelete="CASCADE",
        ),
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
