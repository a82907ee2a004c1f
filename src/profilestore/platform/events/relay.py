"""The relay: publishes outbox rows in order, at least once, then marks them published.

One relay holds the lease at a time (see ``lease``); it reads unpublished rows in outbox order
(per user that is commit order, because a user's writes are serialized on their profile row),
publishes a batch, waits for every acknowledgement, then marks the rows. A crash between publish
and mark republishes at most one batch: consumers dedupe on the event ``id``."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import random
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import structlog
from prometheus_client import start_http_server
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from profilestore.platform.audit import prune_audit
from profilestore.platform.db import Database, utcnow
from profilestore.platform.events import metrics
from profilestore.platform.events.lease import Lease
from profilestore.platform.events.outbox import OutboxRow
from profilestore.platform.events.publisher import OutgoingEvent, Publisher, PublishError
from profilestore.platform.idempotency import prune_expired
from profilestore.platform.jsonutil import dumps
from profilestore.settings import Settings

log = structlog.get_logger("profilestore.relay")
GAUGE_REFRESH_SECONDS = 5.0


class FeedOnlyPublisher:
    """No broker: events are "published" to the outbox feed (``GET /v1/events``) by marking."""

    name = "feed"

    async def connect(self) -> None:
        return None

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass
class RelayConfig:
    batch_size: int = 100
    poll_seconds: float = 0.25
    linger_seconds: float = 0.005
    """After a wake-up, wait this long for more commits: under write load a batch then carries
    many events instead of one (each batch costs a few round trips)."""
    lease_seconds: float = 15.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retention_seconds: float = 7 * 86400
    prune_every_seconds: float = 60.0
    audit_retention_seconds: float = 365 * 86400


_OUTBOX = cast(Table, OutboxRow.__table__)
_MARK_PUBLISHED = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.position == bindparam("at_position"),
        _OUTBOX.c.published_at.is_(None),
    )
    .values(published_seq=bindparam("seq"))
)
"""One statement run for every row of a batch (executemany: one round trip per batch)."""


class Relay:
    def __init__(
        self, db: Database, publisher: Publisher, config: RelayConfig | None = None
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.config = config or RelayConfig()
        self.holder = f"relay-{uuid.uuid4().hex[:12]}"
        self.lease = Lease(db, self.holder, seconds=self.config.lease_seconds)
        self.wakeup = asyncio.Event()
        self.published_signal = asyncio.Event()
        self._connected = False
        self._last_prune = 0.0
        self._last_gauges = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; back off exponentially while the broker is down."""
        backoff = self.config.backoff_initial
        log.info("relay_started", holder=self.holder, publisher=self.publisher.name)
        while not stop.is_set():
            try:
                published = await self.run_once()
            except (PublishError, SQLAlchemyError, OSError) as exc:
                metrics.PUBLISH_FAILURES.labels(self.publisher.name).inc()
                log.warning(
                    "relay_publish_failed", error=str(exc)[:200], retry_in=round(backoff, 2)
                )
                await self._disconnect()
                await _wait(stop, backoff * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)
                backoff = min(backoff * 2, self.config.backoff_max)
                continue
            backoff = self.config.backoff_initial
            if published < self.config.batch_size:
                await self._idle(stop)
        await self._disconnect()
        await self.lease.release()
        log.info("relay_stopped", holder=self.holder)

    async def run_once(self) -> int:
        """Publish one batch if this relay holds the lease; returns how many were published."""
        if not await self.lease.acquire():
            return 0
        await self._housekeeping()
        rows = await self._next_batch()
        if not rows:
            return 0
        if not self._connected:
            await self.publisher.connect()
            self._connected = True
        events = [_outgoing(row) for row in rows]
        started = time.perf_counter()
        await self.publisher.publish(events)
        metrics.PUBLISH_SECONDS.labels(self.publisher.name).observe(time.perf_counter() - started)
        marked = await self._mark_published([row.position for row in rows])
        metrics.EVENTS_PUBLISHED.labels(self.publisher.name).inc(len(rows))
        self.published_signal.set()
        self.published_signal = asyncio.Event()
        return marked

    async def drain(self) -> int:
        """Publish until nothing is left (tests, shutdown)."""
        total = 0
        while (count := await self.run_once()) > 0:
            total += count
        return total

    async def _next_batch(self) -> list[OutboxRow]:
        statement = (
            select(OutboxRow)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.position)
            .limit(self.config.batch_size)
        )
        async with self.db.read_session() as session:
            return list((await session.execute(statement)).scalars())

    async def _mark_published(self, positions: list[int]) -> int:
        async with self.db.write_session() as session:
            if not await self.lease.still_held(session):
                log.warning("relay_lease_lost", holder=self.holder)
                return 0
            last = (await session.execute(select(func.max(OutboxRow.published_seq)))).scalar()
            now = utcnow()
            marks = [
                {"at_position": position, "seq": (last or 0) + offset}
                for offset, position in enumerate(positions, start=1)
            ]
            await session.execute(_MARK_PUBLISHED.values(published_at=now), marks)
            await session.commit()
        return len(positions)

    async def _housekeeping(self) -> None:
        """Refresh the backlog gauges every few seconds; prune published rows now and then."""
        now = time.monotonic()
        if now - self._last_gauges >= GAUGE_REFRESH_SECONDS:
            self._last_gauges = now
            await metrics.refresh_outbox_gauges(self.db)
        if now - self._last_prune >= self.config.prune_every_seconds:
            self._last_prune = now
            await prune_published(self.db, utcnow().timestamp() - self.config.retention_seconds)
            await prune_expired(self.db)
            await prune_audit(self.db, self.config.audit_retention_seconds)

    async def _idle(self, stop: asyncio.Event) -> None:
        wake = asyncio.ensure_future(self.wakeup.wait())
        halt = asyncio.ensure_future(stop.wait())
        await asyncio.wait(
            {wake, halt}, timeout=self.config.poll_seconds, return_when="FIRST_COMPLETED"
        )
        for task in (wake, halt):
            task.cancel()
        if wake.done() and not halt.done() and self.config.linger_seconds:
            await _wait(stop, self.config.linger_seconds)
        self.wakeup.clear()

    async def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            try:
                await self.publisher.close()
            except Exception as exc:  # a broken connection may fail to close; we reconnect anyway
                log.debug("publisher_close_failed", error=str(exc)[:200])


async def prune_published(db: Database, cutoff_timestamp: float) -> int:
    """Delete published rows older than the cutoff (a UNIX time). The newest published row is
    kept: it carries the feed's sequence, which must never restart."""
    cutoff = dt.datetime.fromtimestamp(cutoff_timestamp, tz=dt.UTC)
    newest = select(func.max(OutboxRow.published_seq)).scalar_subquery()
    async with db.write_session() as session:
        result = await session.execute(
            delete(OutboxRow).where(
                OutboxRow.published_at.is_not(None),
                OutboxRow.published_at < cutoff,
                OutboxRow.published_seq < newest,
            )
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def _outgoing(row: OutboxRow) -> OutgoingEvent:
    return OutgoingEvent(
        id=str(row.id),
        key=row.aggregateid,
        type=row.type,
        body=dumps(row.payload),
        position=row.position,
    )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


def build_publisher(url: str | None) -> Publisher:
    """The broker named by ``PROFILESTORE_EVENTS_URL``; none: the outbox feed."""
    if url is None:
        return FeedOnlyPublisher()
    # Imported on demand: broker client libraries load only when a broker is configured.
    publishers = importlib.import_module("profilestore.platform.events.publishers")
    create: Callable[[str], Publisher] = publishers.create_publisher
    return create(url)


def relay_config(settings: Settings) -> RelayConfig:
    return RelayConfig(
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
        linger_seconds=settings.relay_linger_seconds,
        lease_seconds=settings.relay_lease_seconds,
        backoff_max=settings.relay_backoff_max_seconds,
        retention_seconds=settings.outbox_retention_seconds,
        audit_retention_seconds=settings.audit_retention_days * 86400,
    )


async def run_relay_process(settings: Settings, metrics_port: int | None = None) -> None:
    """``profilestore relay``: run until SIGTERM/SIGINT, finishing the batch in flight; as
    the relay's own database role if one is set (``PROFILESTORE_RELAY_DATABASE_ROLE``)."""
    db = Database(settings.model_copy(update={"database_role": settings.relay_database_role}))
    relay = Relay(db, build_publisher(settings.events_url), relay_config(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1")
    try:
        await relay.run(stop)
    finally:
        await db.dispose()
