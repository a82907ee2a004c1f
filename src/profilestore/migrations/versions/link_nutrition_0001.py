"""link nutrition: the owner keys of nutrition body and weights (part of legacy 0007), where
profiles shares the database

Revision ID: link_nutrition_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_nutrition_0001"
down_revision = None
branch_labels = ("link_nutrition",)
depends_on = ("nutrition_0001", "profiles_0001")

TABLES = (
    "nutrition_body",
    "nutrition_weights",
)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
