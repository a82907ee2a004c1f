"""Prometheus metrics of the event machinery (module-level: one set per process)."""

from __future__ import annotations

import asyncio
import math
import time

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select

from profilestore.platform import rls
from profilestore.platform.db import Database, utcnow
from profilestore.platform.events.outbox import OutboxRow

OUTBOX_BACKLOG = Gauge("profilestore_outbox_backlog", "Outbox rows not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "profilestore_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none): the relay's lag",
)
EVENTS_PUBLISHED = Counter(
    "profilestore_events_published_total", "Events the broker acknowledged", ["publisher"]
)
PUBLISH_FAILURES = Counter(
    "profilestore_event_publish_failures_total", "Failed publish attempts", ["publisher"]
)
PUBLISH_SECONDS = Histogram(
    "profilestore_event_publish_seconds",
    "Time to publish one batch and get every acknowledgement",
    ["publisher"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class BacklogGauges:
    """Refreshes the backlog gauges at most once per ``every_seconds`` (a scrape must not cost
    a database query each time, and concurrent scrapes share one refresh)."""

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self._refreshed_at = -math.inf
        self._lock = asyncio.Lock()

    async def refresh(self, db: Database) -> None:
        if time.monotonic() - self._refreshed_at < self.every_seconds:
            return
        async with self._lock:
            if time.monotonic() - self._refreshed_at < self.every_seconds:
                return
            await refresh_outbox_gauges(db)
            self._refreshed_at = time.monotonic()


@rls.as_system  # also asked for by /metrics, a request without a user
async def refresh_outbox_gauges(db: Database) -> None:
    """Backlog and lag are read from the database, so every replica and relay agree."""
    statement = select(func.count(), func.min(OutboxRow.created_at)).where(
        OutboxRow.published_at.is_(None)
    )
    async with db.read_session() as session:
        backlog, oldest = (await session.execute(statement)).one()
    OUTBOX_BACKLOG.set(backlog)
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    OUTBOX_OLDEST_AGE.set(max(age, 0.0))
