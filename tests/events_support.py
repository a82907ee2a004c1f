"""Helpers for event tests: a recording publisher and outbox readers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from profilestore.platform.db import Database
from profilestore.platform.events.outbox import OutboxRow
from profilestore.platform.events.publisher import OutgoingEvent, PublishError
from profilestore.platform.jsonutil import loads


class RecordingPublisher:
    """Keeps what it was given, in order; can be told to fail (a broker outage)."""

    name = "recording"

    def __init__(self) -> None:
        self.events: list[OutgoingEvent] = []
        self.down = False
        self.attempts = 0

    async def connect(self) -> None:
        if self.down:
            raise PublishError("broker down")

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        self.attempts += 1
        if self.down:
            raise PublishError("broker down")
        self.events.extend(events)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def bodies(self) -> list[dict[str, Any]]:
        return [loads(event.body) for event in self.events]


async def outbox_rows(db: Database) -> list[OutboxRow]:
    async with db.read_session() as session:
        statement = select(OutboxRow).order_by(OutboxRow.position)
        return list((await session.execute(statement)).scalars())


async def outbox_types(db: Database) -> list[str]:
    return [row.type.rsplit(".", 1)[-1] for row in await outbox_rows(db)]
