"""link nutrition: the owner keys of nutrition eating, goals and targets (part of legacy 0008),
where profiles shares the database

Revision ID: link_nutrition_0002
Revises: link_nutrition_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_nutrition_0002"
down_revision = "link_nutrition_0001"
branch_labels = None
depends_on = "nutrition_0002"

TABLES = (
    "nutrition_eating",
    "nutrition_goals",
    "nutrition_targets",
)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
