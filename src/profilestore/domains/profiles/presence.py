"""Presence rules. A heartbeat touches the presence store only (Redis, or memory on the
embedded default), never the profile row: the profile, its version and ETag stay as they are.
The database gets ``last_seen`` written behind (at most once per
``PROFILESTORE_PRESENCE_WRITE_EVERY_SECONDS`` per user, and on going offline) and a
``PresenceChanged`` event on each status transition only, in the request's transaction. A
device that stops heartbeating expires after ``PROFILESTORE_PRESENCE_TTL_SECONDS``; the
sweeper (``sweep``) announces the users left with no device as offline."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import events
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.presence_store import (
    LiveState,
    MemoryPresence,
    PresenceStore,
    RedisPresence,
)
from profilestore.domains.profiles.schemas import PresenceWrite
from profilestore.domains.profiles.transitions import TransitionHub
from profilestore.platform.db import Database, utcnow
from profilestore.platform.errors import validation_problem
from profilestore.platform.uow import background_work

log = structlog.get_logger("profilestore.presence")
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
RETRY_MS = 1000
"""After a failed commit of offline events, when the sweeper looks at those users again."""


def build_store(settings: Any) -> PresenceStore:
    """Redis when configured (every replica sees every device); else this process's memory,
    which only a single process may use (``serve`` refuses several workers without Redis)."""
    if settings.redis_url:
        return RedisPresence(
            settings.redis_url, settings.cache_prefix, settings.redis_timeout_seconds
        )
    return MemoryPresence()


async def forget_user(app: Any, user_id: uuid.UUID) -> None:
    """The user is erased: their presence goes from the store."""
    await app.state.presence.forget(user_id)


def configure(app: Any) -> None:
    settings = app.state.settings
    app.state.presence = build_store(settings)
    app.state.presence_transitions = TransitionHub(
        settings.redis_url, settings.cache_prefix, settings.redis_timeout_seconds
    )


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The sweeper runs in every serving process; the store hands each expiry to one."""
    stop = asyncio.Event()
    settings = app.state.settings
    state = app.state
    task = asyncio.create_task(
        sweep(
            state.db,
            state.presence,
            state.presence_transitions,
            settings.presence_sweep_seconds,
            stop,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await task
        await state.presence.close()
        await state.presence_transitions.close()


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


async def heartbeat(
    session: AsyncSession,
    store: PresenceStore,
    settings: Any,
    user_id: uuid.UUID,
    beat: PresenceWrite,
    on_transition: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Record a heartbeat in the store, then in ``session`` the durable last_seen (when due)
    and the transition's event. ``on_transition(previous, new)`` is called as soon as the
    store has announced a transition, before anything that may fail, so the caller can take
    the announcement back if the transaction does not commit."""
    now = utcnow()
    seen = _checked_last_seen(beat.last_seen, now)
    outcome = await store.beat(
        user_id,
        beat.device_id,
        beat.status,
        now_ms=epoch_ms(now),
        seen_ms=epoch_ms(seen),
        ttl_ms=int(settings.presence_ttl_seconds * 1000),
        write_every_ms=int(settings.presence_write_every_seconds * 1000),
    )
    if outcome.new != outcome.old and on_transition is not None:
        on_transition(outcome.old, outcome.new)
    if outcome.write_due:
        await write_last_seen(session, user_id, seen)
    if outcome.new != outcome.old:
        events.presence_changed(session, user_id, outcome.new, seen, outcome.devices)
    return {
        "user_id": user_id,
        "status": outcome.new,
        "last_seen": seen,
        "devices": outcome.devices,
    }


def _checked_last_seen(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if value.tzinfo is None:
        raise _last_seen_problem("last_seen needs a time zone offset")
    if value > now + FUTURE_TOLERANCE:
        raise _last_seen_problem("last_seen is in the future")
    return min(value.astimezone(dt.UTC), now)


def _last_seen_problem(message: str) -> Exception:
    return validation_problem(
        [{"loc": ("body", "last_seen"), "msg": message, "type": "value_error"}]
    )


async def write_last_seen(session: AsyncSession, user_id: uuid.UUID, seen: dt.datetime) -> bool:
    """The durable last_seen, without touching the profile's version; False: no profile."""
    statement = (
        update(Profile)
        .where(Profile.user_id == user_id)
        .where((Profile.last_seen.is_(None)) | (Profile.last_seen < seen))
        .values(last_seen=seen)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def live_states(
    store: PresenceStore, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, LiveState]:
    return await store.states(user_ids, epoch_ms(utcnow())) if user_ids else {}


def needs_durable_last_seen(live: LiveState | None) -> bool:
    """The store keeps last_seen for days after the last heartbeat (and it is never older than
    the database's, which is written from it): only users it has forgotten need the database."""
    return live is None or live.last_seen_ms is None


def presence_item(
    user_id: uuid.UUID, live: LiveState | None, durable_last_seen: dt.datetime | None
) -> dict[str, Any]:
    """One user's presence: live where the store has it, else offline with the durable
    last_seen."""
    last_seen = durable_last_seen
    if live is not None and live.last_seen_ms is not None:
        last_seen = from_epoch_ms(live.last_seen_ms)
    return {
        "user_id": user_id,
        "status": live.status if live is not None else "offline",
        "last_seen": last_seen,
        "devices": live.devices if live is not None else 0,
    }


async def sweep_once(
    db: Database, store: PresenceStore, hub: TransitionHub | None = None, limit: int = 500
) -> int:
    """Announce the users whose last device expired as offline (with their last_seen). If the
    events cannot be committed, the users are handed back to the store to be swept again."""
    now_ms = epoch_ms(utcnow())
    gone = await store.expire(now_ms, limit)
    if not gone:
        return 0
    try:
        async with background_work(db) as session:
            for user_id, seen_ms, _ in gone:
                seen = from_epoch_ms(seen_ms)
                if await write_last_seen(session, user_id, seen) or await _exists(session, user_id):
                    events.presence_changed(session, user_id, "offline", seen, 0)
    except BaseException:
        for user_id, _, previous in gone:
            await store.unannounce(user_id, "offline", previous, now_ms + RETRY_MS)
        raise
    if hub is not None:
        for user_id, _, _ in gone:
            await hub.publish(user_id, "offline")
    return len(gone)


async def _exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await session.get(Profile, user_id) is not None


async def sweep(
    db: Database,
    store: PresenceStore,
    hub: TransitionHub,
    every_seconds: float,
    stop: asyncio.Event,
) -> None:
    """The sweeper loop run by every serving process (the store hands each expiry to one)."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            await sweep_once(db, store, hub)
        except Exception as exc:  # a dependency fault: the expiries wait for the next round
            log.warning("presence_sweep_failed", error=type(exc).__name__)
        remaining = every_seconds - (time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(remaining, 0.01))
