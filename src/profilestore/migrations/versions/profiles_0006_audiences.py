"""profiles: audiences and custom fields: per-user visibility overrides, the private account
switch, and the values of the operator's custom profile fields

Revision ID: profiles_0006
Revises: profiles_0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "profiles_0006"
down_revision = "profiles_0005"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("profiles") as table:
        table.add_column(
            sa.Column("visibility", JSON_DOCUMENT, nullable=False, server_default="{}")
        )
        table.add_column(
            sa.Column("private_account", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("fields", JSON_DOCUMENT, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("profiles") as table:
        table.drop_column("fields")
        table.drop_column("private_account")
        table.drop_column("visibility")
