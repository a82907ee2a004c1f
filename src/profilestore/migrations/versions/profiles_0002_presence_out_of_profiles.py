"""profiles: presence leaves the profile row (legacy 0005): status is live state (Redis or
in-process), last_seen stays as the durable, written-behind time

Revision ID: profiles_0002
Revises: profiles_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "profiles_0002"
down_revision = "profiles_0001"
branch_labels = None
depends_on = "platform_0002"


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.drop_constraint(op.f("ck_profiles_status"), type_="check")
        batch.drop_column("status")


def downgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(
            sa.Column("status", sa.String(8), nullable=False, server_default="offline")
        )
        batch.create_check_constraint(
            op.f("ck_profiles_status"), "status IN ('online', 'offline', 'away', 'busy')"
        )
