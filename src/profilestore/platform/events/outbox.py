"""The transactional outbox: ``emit`` adds an event to the caller's session, so the event commits
(or rolls back) with the change that caused it. Nothing is published inside a request.

Table layout follows Debezium's outbox (``id``, ``aggregatetype``, ``aggregateid``, ``type``,
``payload``) plus ``position`` (commit order per user), ``created_at``, ``published_at`` and
``published_seq`` (the order the relay published in: the feed's cursor)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, UtcDateTime, utcnow

Position = BigInteger().with_variant(Integer(), "sqlite")
EVENT_TYPE_PREFIX = "profilestore."


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = ({"sqlite_autoincrement": True},)

    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    aggregatetype: Mapped[str] = mapped_column(String(64))
    aggregateid: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    published_seq: Mapped[int | None] = mapped_column(Position, unique=True)


Index(
    "ix_outbox_unpublished",
    OutboxRow.position,
    postgresql_where=OutboxRow.published_at.is_(None),
    sqlite_where=OutboxRow.published_at.is_(None),
)
Index("ix_outbox_published_at", OutboxRow.published_at)


@dataclass(frozen=True)
class EventOptions:
    """How events are written: the CloudEvents ``source`` and whether private fields go in."""

    source: str = "/profilestore"
    include_private: bool = False


def event_options(session: AsyncSession) -> EventOptions:
    options = session.info.get("event_options")
    return options if isinstance(options, EventOptions) else EventOptions()


def emit(
    session: AsyncSession,
    *,
    event_type: str,
    user_id: uuid.UUID,
    aggregatetype: str,
    data: dict[str, Any],
) -> OutboxRow:
    """Add one CloudEvents 1.0 event, keyed by the user id, to the session's transaction."""
    if not event_type.startswith(EVENT_TYPE_PREFIX):
        raise ValueError(f"event types start with {EVENT_TYPE_PREFIX!r}: {event_type}")
    now = utcnow()
    event_id = uuid.uuid4()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": event_options(session).source,
        "type": event_type,
        "time": now.isoformat().replace("+00:00", "Z"),
        "subject": str(user_id),
        "datacontenttype": "application/json",
        "data": data,
    }
    row = OutboxRow(
        id=event_id,
        aggregatetype=aggregatetype,
        aggregateid=str(user_id),
        type=event_type,
        payload=envelope,
        created_at=now,
    )
    session.add(row)
    session.info["emitted"] = True
    return row
