"""The calorie ledger: events eaten or burned, logged one at a time or in batches of up to
1,000 in one transaction (a batch with one bad event is refused whole), deduplicated by the
client's ``event_id``, listed newest first, corrected and removed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import events, rollups
from profilestore.domains.nutrition.models import CalorieEvent
from profilestore.domains.nutrition.schemas import MAX_BATCH, CalorieWrite
from profilestore.platform import owners
from profilestore.platform.db import utcnow
from profilestore.platform.errors import invalid, not_found, validation_problem
from profilestore.platform.pagination import newest_first_page
from profilestore.platform.schemas import patched

WRITABLE = ("kind", "kcal", "at", "source", "note", "metadata")


def entry_view(row: CalorieEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "kind": row.kind,
        "kcal": row.kcal,
        "at": row.at,
        "source": row.source,
        "note": row.note,
        "metadata": row.details,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def parse(payload: Any) -> tuple[list[CalorieWrite], bool]:
    """The events of a POST body (one event, or ``{"events": [...]}``) and whether it was a
    batch; 422 naming every bad event's index and field."""
    batch = isinstance(payload, dict) and "events" in payload
    if not batch:
        return [_one(payload, ("body",))], False
    if set(payload) != {"events"}:
        raise invalid("body", 'a batch is {"events": [...]} and nothing else', "batch")
    items = payload["events"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise invalid("body.events", f"must be a list of 1-{MAX_BATCH} events", "batch")
    errors: list[dict[str, Any]] = []
    parsed: list[CalorieWrite] = []
    for index, item in enumerate(items):
        try:
            parsed.append(CalorieWrite.model_validate(item))
        except ValidationError as exc:
            errors += [{**e, "loc": ("body", "events", index, *e["loc"])} for e in exc.errors()]
    if errors:
        raise validation_problem(errors)
    return parsed, True


def _one(payload: Any, where: tuple[Any, ...]) -> CalorieWrite:
    try:
        return CalorieWrite.model_validate(payload)
    except ValidationError as exc:
        raise validation_problem(
            [{**e, "loc": (*where, *e["loc"])} for e in exc.errors()]
        ) from None


async def log(
    session: AsyncSession, user_id: uuid.UUID, entries: list[CalorieWrite]
) -> tuple[list[dict[str, Any]], int]:
    """Store the events whose ``event_id`` is new; every event as stored, in order, and how many
    were new. One ``CaloriesLogged`` for the batch (counts and kcal per kind of the new ones)."""
    zone = await _lock_ledger(session, user_id)
    ids = [entry.event_id or uuid.uuid4() for entry in entries]
    known = await _existing(
        session, user_id, [i for i, e in zip(ids, entries, strict=True) if e.event_id]
    )
    now = utcnow()
    stored = {event_id: entry_view(row) for event_id, row in known.items()}
    fresh: list[dict[str, Any]] = []
    for event_id, entry in zip(ids, entries, strict=True):
        if event_id in stored:
            continue  # a retry (or the same id twice in one batch): counted once
        stored[event_id] = _new_entry(event_id, entry, now)
        fresh.append(stored[event_id])
    if fresh:
        await session.execute(insert(CalorieEvent), [_columns(user_id, row) for row in fresh])
        await rollups.add(session, user_id, zone, [(r["kind"], r["kcal"], r["at"]) for r in fresh])
        _announce(session, user_id, fresh)
    return [stored[event_id] for event_id in ids], len(fresh)


def _new_entry(event_id: uuid.UUID, entry: CalorieWrite, now: dt.datetime) -> dict[str, Any]:
    """A new event as stored and answered (the batch goes in as one bulk insert)."""
    return {
        "event_id": event_id,
        "kind": entry.kind,
        "kcal": entry.kcal,
        "at": entry.at,
        "source": entry.source,
        "note": entry.note,
        "metadata": entry.metadata,
        "created_at": now,
        "updated_at": now,
    }


def _columns(user_id: uuid.UUID, view: dict[str, Any]) -> dict[str, Any]:
    columns = {"user_id": user_id, **view, "details": view["metadata"]}
    del columns["metadata"]
    return columns


def _announce(session: AsyncSession, user_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    count: Counter[str] = Counter()
    kcal: dict[str, float] = {}
    for row in rows:
        count[row["kind"]] += 1
        kcal[row["kind"]] = kcal.get(row["kind"], 0.0) + row["kcal"]
    events.calories_logged(session, user_id, dict(count), {k: round(v, 3) for k, v in kcal.items()})


async def _existing(
    session: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, CalorieEvent]:
    if not ids:
        return {}
    statement = select(CalorieEvent).where(
        CalorieEvent.user_id == user_id, CalorieEvent.event_id.in_(set(ids))
    )
    return {row.event_id: row for row in (await session.execute(statement)).scalars()}


async def page(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    if not await owners.owner_exists(session, user_id):
        raise not_found("profile")
    statement = select(CalorieEvent).where(CalorieEvent.user_id == user_id)
    if since is not None:
        statement = statement.where(CalorieEvent.at >= since)
    if until is not None:
        statement = statement.where(CalorieEvent.at < until)
    if kind is not None:
        statement = statement.where(CalorieEvent.kind == kind)
    rows, next_cursor = await newest_first_page(
        session, statement, CalorieEvent.at, CalorieEvent.event_id, cursor=cursor, limit=limit
    )
    return [entry_view(row) for row in rows], next_cursor


async def correct(
    session: AsyncSession, user_id: uuid.UUID, event_id: uuid.UUID, patch: dict[str, Any]
) -> dict[str, Any]:
    zone, row = await _locked_row(session, user_id, event_id)
    if row is None:
        raise not_found("calorie event")
    current = {name: getattr(row, name) for name in WRITABLE if name != "metadata"}
    current |= {"metadata": row.details, "at": row.at.isoformat()}
    if "event_id" in patch:
        raise invalid("body.event_id", "an event keeps its id", "read_only")
    data = patched(CalorieWrite, current, patch)
    before, was_at = (row.kind, row.kcal), row.at
    for name in WRITABLE:
        setattr(row, "details" if name == "metadata" else name, getattr(data, name))
    row.updated_at = utcnow()
    await session.flush()
    await rollups.recount(session, user_id, zone, [was_at, row.at])
    events.calorie_entry_changed(
        session, user_id, event_id, "corrected", before, (row.kind, row.kcal)
    )
    return entry_view(row)


async def remove(session: AsyncSession, user_id: uuid.UUID, event_id: uuid.UUID) -> None:
    """Idempotent: removing what is not there changes nothing."""
    zone, row = await _locked_row(session, user_id, event_id)
    if row is None:
        return
    await session.execute(
        delete(CalorieEvent).where(
            CalorieEvent.user_id == user_id, CalorieEvent.event_id == event_id
        )
    )
    await rollups.recount(session, user_id, zone, [row.at])
    events.calorie_entry_changed(session, user_id, event_id, "removed", (row.kind, row.kcal), None)


async def _lock_ledger(session: AsyncSession, user_id: uuid.UUID) -> str:
    """Lock the owner (ledger writes of one user run one at a time, so their rollup updates
    never interleave); the zone their buckets are in."""
    exists, timezone = await owners.lock_owner_timezone(session, user_id)
    if not exists:
        raise not_found("profile")
    return await rollups.zone_for_write(session, user_id, timezone)


async def _locked_row(
    session: AsyncSession, user_id: uuid.UUID, event_id: uuid.UUID
) -> tuple[str, CalorieEvent | None]:
    zone = await _lock_ledger(session, user_id)
    statement = select(CalorieEvent).where(
        CalorieEvent.user_id == user_id, CalorieEvent.event_id == event_id
    )
    return zone, (await session.execute(statement)).scalar_one_or_none()
