"""link movement: the owner keys of movement (part of legacy 0011), where profiles shares the
database

Revision ID: link_movement_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_movement_0001"
down_revision = None
branch_labels = ("link_movement",)
depends_on = ("movement_0001", "profiles_0001")

TABLES = ("movement_profiles",)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
