"""link media: the owner keys of media (part of legacy 0006), where profiles shares the database

Revision ID: link_media_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from profilestore.migrations import owner_keys

revision = "link_media_0001"
down_revision = None
branch_labels = ("link_media",)
depends_on = ("media_0001", "profiles_0001")

TABLES = (
    "media_history",
    "media_ratings",
    "media_resume_points",
    "media_viewers",
    "media_watchlist",
)


def upgrade() -> None:
    owner_keys.add(*TABLES)


def downgrade() -> None:
    owner_keys.drop(*TABLES)
