"""media: viewers, watchlist, history and resume points, ratings and their aggregates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_video_ratings",
        sa.Column("video_id", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("stars_total", sa.Integer(), nullable=False),
        sa.Column("stars_1", sa.Integer(), nullable=False),
        sa.Column("stars_2", sa.Integer(), nullable=False),
        sa.Column("stars_3", sa.Integer(), nullable=False),
        sa.Column("stars_4", sa.Integer(), nullable=False),
        sa.Column("stars_5", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("video_id", name=op.f("pk_media_video_ratings")),
    )
    op.create_table(
        "media_history",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position_seconds", sa.Float(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["profiles.user_id"],
            name=op.f("fk_media_history_user_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "entry_id", name=op.f("pk_media_history")),
    )
    op.create_index(
        "ix_media_history_newest",
        "media_history",
        ["user_id", "viewer_id", "watched_at", "entry_id"],
        unique=False,
    )

    op.create_table(
        "media_ratings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=False),
        sa.Column("stars", sa.SmallInteger(), nullable=False),
        sa.Column("review", sa.Text(), nullable=True),
        sa.Column("spoiler", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["profiles.user_id"],
            name=op.f("fk_media_ratings_user_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "viewer_id", "video_id", name=op.f("pk_media_ratings")),
    )
    op.create_index(
        "ix_media_ratings_newest",
        "media_ratings",
        ["user_id", "viewer_id", "updated_at", "video_id"],
        unique=False,
    )
    op.create_index(
        "ix_media_ratings_video",
        "media_ratings",
        ["video_id", "updated_at", "user_id"],
        unique=False,
    )

    op.create_table(
        "media_resume_points",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=False),
        sa.Column("position_seconds", sa.Float(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("dismissed", sa.Boolean(), nullable=False),
        sa.Column("watched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("last_beat_id", sa.Uuid(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["profiles.user_id"],
            name=op.f("fk_media_resume_points_user_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "viewer_id", "video_id", name=op.f("pk_media_resume_points")
        ),
    )
    op.create_index(
        "ix_media_resume_recent",
        "media_resume_points",
        ["user_id", "viewer_id", "watched_at", "video_id"],
        unique=False,
    )

    op.create_table(
        "media_viewers",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("avatar_url", sa.String(length=2048), nullable=True),
        sa.Column("maturity", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("subtitle_language", sa.String(length=35), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["profiles.user_id"],
            name=op.f("fk_media_viewers_user_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "viewer_id", name=op.f("pk_media_viewers")),
        sa.UniqueConstraint("user_id", "name", name="uq_media_viewers_name"),
    )
    op.create_table(
        "media_watchlist",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=128), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["profiles.user_id"],
            name=op.f("fk_media_watchlist_user_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "viewer_id", "video_id", name=op.f("pk_media_watchlist")
        ),
    )
    op.create_index(
        "ix_media_watchlist_newest",
        "media_watchlist",
        ["user_id", "viewer_id", "added_at", "video_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_media_watchlist_newest", table_name="media_watchlist")

    op.drop_table("media_watchlist")
    op.drop_table("media_viewers")
    op.drop_index("ix_media_resume_recent", table_name="media_resume_points")

    op.drop_table("media_resume_points")
    op.drop_index("ix_media_ratings_video", table_name="media_ratings")
    op.drop_index("ix_media_ratings_newest", table_name="media_ratings")

    op.drop_table("media_ratings")
    op.drop_index("ix_media_history_newest", table_name="media_history")

    op.drop_table("media_history")
    op.drop_table("media_video_ratings")
