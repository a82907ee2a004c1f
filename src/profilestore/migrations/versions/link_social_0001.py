"""link social: the owner keys of social (part of legacy 0003), where profiles shares the database

Revision ID: link_social_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_social_0001"
down_revision = None
branch_labels = ("link_social",)
depends_on = ("social_0001", "profiles_0001")

TABLES = (
    "contacts",
    "blocks",
)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
