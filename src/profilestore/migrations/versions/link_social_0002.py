"""link social: the owner keys of follows and mutes, where profiles shares the database (the
follow counts have none: other users' follows write them)

Revision ID: link_social_0002
Revises: link_social_0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_social_0002"
down_revision = "link_social_0001"
branch_labels = None
depends_on = "social_0002"

TABLES = (
    "follows",
    "mutes",
)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
