"""link nutrition: the owner keys of the calorie ledger (part of legacy 0009), where profiles shares
the database

Revision ID: link_nutrition_0003
Revises: link_nutrition_0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_nutrition_0003"
down_revision = "link_nutrition_0002"
branch_labels = None
depends_on = "nutrition_0003"

TABLES = ("nutrition_calories",)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
