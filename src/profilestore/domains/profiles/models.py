"""Tables of the profiles domain. Every row is keyed by user_id first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class Profile(Base):
    __tablename__ = "profiles"
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(64))
    bio: Mapped[str | None] = mapped_column(String(500))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    last_seen: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """Durable last presence, written behind (domains/profiles/presence.py): not part of the
    profile's representation or version."""
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    preferences: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    visibility: Mapped[dict[str, str]] = mapped_column(
        JsonDocument, default=dict, server_default="{}"
    )
    """The owner's audience per field where it differs from the default (``audiences.py``)."""
    private_account: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Only the owner's contacts see more than the username and avatar."""
    fields: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict, server_default="{}")
    """Values of the operator's custom profile fields (``custom_fields.py``)."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Address(Base):
    __tablename__ = "addresses"
    __table_args__ = (CheckConstraint("kind IN ('shipping', 'billing')", name="kind"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    label: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    lines: Mapped[list[str]] = mapped_column(JSON)
    city: Mapped[str] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(128))
    postal_code: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


Index("ix_profiles_updated_at_user_id", Profile.updated_at, Profile.user_id)
"""The order of the admin listing and the bulk export (``admin.py``, ``bulk.py``)."""

Index(
    "uq_addresses_one_default_per_kind",
    Address.user_id,
    Address.kind,
    unique=True,
    sqlite_where=Address.is_default,
    postgresql_where=Address.is_default,
)
