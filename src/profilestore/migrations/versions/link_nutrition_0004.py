"""link nutrition: the owner keys of the calorie rollups (part of legacy 0010), where profiles
shares the database

Revision ID: link_nutrition_0004
Revises: link_nutrition_0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_nutrition_0004"
down_revision = "link_nutrition_0003"
branch_labels = None
depends_on = "nutrition_0004"

TABLES = (
    "nutrition_calories_hourly",
    "nutrition_calories_daily",
    "nutrition_rollup_zone",
)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
