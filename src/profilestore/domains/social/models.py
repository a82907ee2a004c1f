"""Tables of the social domain, keyed by the owner's user_id first. The other user's id is a
plain column: no foreign key crosses from one user's rows to another's."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime


class Contact(Base):
    __tablename__ = "contacts"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    contact_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    nickname: Mapped[str | None] = mapped_column(String(64))
    is_favorite: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Block(Base):
    __tablename__ = "blocks"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    blocked_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(280))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


Index("ix_contacts_favorites", Contact.user_id, Contact.is_favorite, Contact.contact_user_id)
