"""Reading a database of the calorie-balance service: its users page by page (oldest first),
each with its profile, goals, events and the number of its metabolic profiles; and the
per-type event totals the verification compares with. Only reads; PostgreSQL only."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

TABLES = ("users", "user_profiles", "calorie_goals", "metabolic_profiles", "calorie_events")
PAGE_SIZE = 100
"""Users read (and imported, and verified) together."""


@dataclass(frozen=True)
class LegacyUser:
    id: uuid.UUID
    username: str
    created_at: dt.datetime | None


@dataclass(frozen=True)
class LegacyProfile:
    id: uuid.UUID
    height_cm: Decimal | None
    weight_kg: Decimal | None
    age: int | None
    gender: str | None
    activity_level: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class LegacyGoal:
    id: uuid.UUID
    daily_calorie_target: int
    goal_type: str
    target_weight_kg: Decimal | None
    target_date: dt.date | None
    is_active: bool | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class LegacyEvent:
    id: uuid.UUID
    event_type: str
    calories_amount: Decimal
    event_timestamp: dt.datetime
    metadata: Any


@dataclass
class LegacyAccount:
    """A user and every row of theirs (timestamps as stored: without a time zone)."""

    user: LegacyUser
    profile: LegacyProfile | None = None
    goals: list[LegacyGoal] = field(default_factory=list)
    events: list[LegacyEvent] = field(default_factory=list)
    metabolic_profiles: int = 0


class SourceError(Exception):
    """The source cannot be read as a calorie-balance database (the message says why)."""


def asyncpg_url(url: str) -> str:
    """``url`` for SQLAlchemy's asyncpg driver (``postgresql://`` and ``postgres://`` too)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SourceError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise SourceError("the source must be a PostgreSQL database (postgresql://...)")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


_KEY = "COALESCE(created_at, '-infinity'::timestamp)"
_USERS = "SELECT id, username, created_at FROM users {where} ORDER BY {key}, id LIMIT :size"
FIRST_USERS = _USERS.format(where="", key=_KEY)
NEXT_USERS = _USERS.format(
    where=f"WHERE ({_KEY}, id) > (COALESCE(CAST(:after_at AS timestamp), '-infinity'::timestamp),"
    " CAST(:after_id AS uuid))",
    key=_KEY,
)
PROFILES = """
SELECT user_id, id, height_cm, weight_kg, age, gender::text AS gender,
    activity_level::text AS activity_level, created_at, updated_at
FROM user_profiles WHERE user_id = ANY(CAST(:ids AS uuid[]))
"""
GOALS = """
SELECT user_id, id, daily_calorie_target, goal_type::text AS goal_type, target_weight_kg,
    target_date, is_active, created_at, updated_at
FROM calorie_goals WHERE user_id = ANY(CAST(:ids AS uuid[]))
ORDER BY user_id, created_at, id
"""
EVENTS = """
SELECT user_id, id, event_type, calories_amount, event_timestamp, metadata::text AS metadata
FROM calorie_events WHERE user_id = ANY(CAST(:ids AS uuid[]))
ORDER BY user_id, event_timestamp, id
"""
METABOLIC = """
SELECT user_id, count(*) FROM metabolic_profiles WHERE user_id = ANY(CAST(:ids AS uuid[]))
GROUP BY user_id
"""
EVENT_TOTALS = """
SELECT user_id, lower(trim(event_type)), count(*), sum(calories_amount)
FROM calorie_events WHERE user_id = ANY(CAST(:ids AS uuid[]))
GROUP BY 1, 2
"""


class LegacyDatabase:
    """The source database (read only: it is never written)."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(asyncpg_url(url))

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def check(self) -> int:
        """The number of users; ``SourceError`` if the source is unreachable or lacks a table."""
        try:
            async with self.engine.connect() as conn:
                found = await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables"
                        " WHERE schemaname = current_schema() AND tablename = ANY(:names)"
                    ),
                    {"names": list(TABLES)},
                )
                missing = sorted(set(TABLES) - set(found.scalars()))
                if missing:
                    raise SourceError(
                        f"not a calorie-balance database: no table {', '.join(missing)}"
                    )
                return int((await conn.execute(text("SELECT count(*) FROM users"))).scalar_one())
        except (OSError, TimeoutError, DBAPIError, asyncpg.PostgresError) as exc:
            raise SourceError(f"cannot reach the source database: {exc}") from None

    async def pages(self, size: int = PAGE_SIZE) -> AsyncIterator[list[LegacyAccount]]:
        """Every user with their rows, ``size`` users at a time, oldest account first."""
        after: dict[str, Any] = {}
        while True:
            async with self.engine.connect() as conn:
                query = NEXT_USERS if after else FIRST_USERS
                rows = (await conn.execute(text(query), {**after, "size": size})).all()
                if not rows:
                    return
                accounts = {row.id: LegacyAccount(LegacyUser(*row)) for row in rows}
                await _fill(conn, accounts)
            yield list(accounts.values())
            after = {"after_at": rows[-1].created_at, "after_id": rows[-1].id}

    async def event_totals(
        self, user_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, tuple[int, Decimal]]]:
        """Per user and event type (trimmed, lower-case): how many events, and their sum."""
        totals: dict[uuid.UUID, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
        async with self.engine.connect() as conn:
            for user_id, kind, count, amount in await conn.execute(
                text(EVENT_TOTALS), {"ids": user_ids}
            ):
                totals[user_id][kind] = (count, amount)
        return totals


async def _fill(conn: Any, accounts: dict[uuid.UUID, LegacyAccount]) -> None:
    ids = {"ids": list(accounts)}
    for row in await conn.execute(text(PROFILES), ids):
        accounts[row.user_id].profile = LegacyProfile(*row[1:])
    for row in await conn.execute(text(GOALS), ids):
        accounts[row.user_id].goals.append(LegacyGoal(*row[1:]))
    for row in await conn.execute(text(EVENTS), ids):
        metadata = json.loads(row.metadata) if row.metadata is not None else None
        event = LegacyEvent(
            row.id, row.event_type, row.calories_amount, row.event_timestamp, metadata
        )
        accounts[row.user_id].events.append(event)
    for user_id, count in await conn.execute(text(METABOLIC), ids):
        accounts[user_id].metabolic_profiles = count
