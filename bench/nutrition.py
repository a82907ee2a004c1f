"""Nutrition benchmark: a year of daily calorie summaries, and batched calorie ingest, against
the seed's own view.

One run: create a uniquely named PostgreSQL database, migrate it, load 10,000 users (profiles in
five timezones and none, body metrics, a calorie target and monthly weights each) and 10,000,000
calorie events with ``COPY`` (in the order they happened, users interleaved), build the hourly
and daily rollups from them set-based in SQL, create the seed's ``calorie_events`` table and
``daily_calorie_summary`` view over the same events, start profilestore and the bare peer
(``bench/bare_peer.py``), check the answers, then measure:

(a) a year of daily summaries of a random user through the API,
    ``GET /v1/profiles/{id}/calories/summary?granularity=day&from=..&to=..`` with the user's own
    token, one request at a time (target: p50 < 20 ms), and under ``wrk -c8``;
(b) ingest (last, as it adds rows): ``POST /v1/profiles/{id}/calories`` with batches of 100
    events of random users over 32 connections (wrk): events/s, server CPU and PostgreSQL CPU
    per event; then the rollups must still add up to the events;
(c) the same year from the seed's view (the peer), as SQL alone through asyncpg and through a
    bare FastAPI + asyncpg endpoint (bench/bare_peer.py: the like-for-like peer of the API);
    ratio peer / ours; our daily-rollup query alone too; EXPLAIN (ANALYZE, BUFFERS) of both.

The latency targets alternate within each round (ours, peer, ours, peer ...); medians over the
rounds are reported. It writes the figures as JSON under ``bench/results/`` and drops its
database, whatever happens (``--keep`` keeps it; ``--database`` measures a kept one again).

    .venv/bin/python bench/nutrition.py                                # 10,000,000 events
    .venv/bin/python bench/nutrition.py --events 200000 --users 1000   # a quick load
    .venv/bin/python bench/nutrition.py --quick                        # the same, short rounds

Database set-up, servers, wrk and its parsing, tokens and the server CPU accounting are
bench/profiles_read.py's; the Lua counters, answers' checks and git state media_history.py's;
see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media_history as mh
import profiles_read as pr

from profilestore.domains.nutrition import formulas, rollups
from profilestore.migrations import runner

OURS, PEER = "ours-api", "peer-http"  # the like-for-like pair: HTTP answers with a year of days
OURS_SQL, PEER_SQL = "ours-sql", "peer-sql"  # their queries alone, through asyncpg
LATENCY_TARGETS = (OURS, PEER, OURS_SQL, PEER_SQL)
INGEST = "ingest"
TARGET_P50_MS = 20.0

# Profiles' timezones (None: no timezone, bucketed in UTC), in equal shares.
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", None)
# When people log, by local hour (0-23): meals and workouts by day, a little at night.
LOCAL_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 6, 10, 9, 5, 5, 8, 10, 8, 5, 5, 6, 9, 10, 8, 5, 4, 3, 2)
SOURCES = ("app", "app", "app", "manual", "barcode", None)
ACTIVITY_SOURCES = ("watch", "watch", "app", "strava", None)
METADATA = ('{"meal": "breakfast"}', '{"meal": "lunch"}', '{"meal": "dinner"}', '{"steps": 8000}')
ACTIVITY_LEVELS = (
    "sedentary",
    "lightly_active",
    "moderately_active",
    "very_active",
    "extra_active",
)
EVENT_COLUMNS = (
    "user_id",
    "event_id",
    "kind",
    "kcal",
    "at",
    "source",
    "note",
    "metadata",
    "created_at",
    "updated_at",
)
BODY_COLUMNS = (
    "user_id",
    "height_cm",
    "weight_kg",
    "birth_date",
    "sex",
    "activity_level",
    "body_fat_percent",
    "units",
    "created_at",
    "updated_at",
    "version",
)
TOTALS = (
    "consumed_mkcal",
    "consumed_count",
    "activity_mkcal",
    "activity_count",
    "other_mkcal",
    "other_count",
    "first_at",
    "last_at",
)
ROLLUP_TABLES = ("nutrition_calories_hourly", "nutrition_calories_daily")
NULL = "\\N"  # COPY text format

# The rollups as the ledger writes keep them (rollups.py): per-kind sums in millikcal
# (round(kcal * 1000)) and counts, first and last instant; an hour is keyed by the instant its
# local hour starts (PostgreSQL's date_trunc in a zone), a day by its local date.
_TOTAL_SELECT = """
       coalesce(sum(round(c.kcal * 1000)::bigint) FILTER (WHERE c.kind = 'consumed'), 0),
       count(*) FILTER (WHERE c.kind = 'consumed'),
       coalesce(sum(round(c.kcal * 1000)::bigint) FILTER (WHERE c.kind = 'burned_activity'), 0),
       count(*) FILTER (WHERE c.kind = 'burned_activity'),
       coalesce(sum(round(c.kcal * 1000)::bigint) FILTER (WHERE c.kind = 'burned_other'), 0),
       count(*) FILTER (WHERE c.kind = 'burned_other'),
       min(c.at), max(c.at)
  FROM nutrition_calories c JOIN nutrition_rollup_zone z USING (user_id)"""
# Rows go in oldest bucket first, users interleaved: as the ledger writes would have created
# them over the year (a user's days are spread over the table, not packed together).
HOURLY_SQL = f"""
INSERT INTO nutrition_calories_hourly (user_id, hour_start, {", ".join(TOTALS)})
SELECT c.user_id, date_trunc('hour', c.at, z.timezone),{_TOTAL_SELECT}
 GROUP BY 2, 1 ORDER BY 2, 1"""
DAILY_SQL = f"""
INSERT INTO nutrition_calories_daily (user_id, day, {", ".join(TOTALS)})
SELECT c.user_id, (c.at AT TIME ZONE z.timezone)::date,{_TOTAL_SELECT}
 GROUP BY 2, 1 ORDER BY 2, 1"""
ZONE_SQL = """
INSERT INTO nutrition_rollup_zone (user_id, timezone)
SELECT user_id, coalesce(timezone, 'UTC') FROM profiles"""

# The seed's legacy table and view, as the seed defines them (but for its user_id foreign key
# to a `users` table this schema does not have). Indexes are created after the rows go in.
PEER_TABLE_SQL = """
CREATE TABLE calorie_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    event_type VARCHAR(50) NOT NULL,
    calories_amount DECIMAL(8,2) NOT NULL,
    event_timestamp TIMESTAMP NOT NULL,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT positive_calories CHECK (calories_amount >= 0)
)"""
PEER_FILL_SQL = """
INSERT INTO calorie_events
       (id, user_id, event_type, calories_amount, event_timestamp, metadata, created_at)
SELECT event_id, user_id, kind, kcal, at AT TIME ZONE 'UTC', coalesce(metadata::jsonb, '{}'),
       created_at AT TIME ZONE 'UTC'
  FROM nutrition_calories"""
PEER_INDEX_SQL = (
    "CREATE INDEX idx_calorie_events_user_id ON calorie_events(user_id)",
    "CREATE INDEX idx_calorie_events_timestamp ON calorie_events(event_timestamp)",
    "CREATE INDEX idx_calorie_events_user_timestamp ON calorie_events(user_id, event_timestamp)",
    "CREATE INDEX idx_calorie_events_type ON calorie_events(event_type)",
)
PEER_VIEW_SQL = """
CREATE VIEW daily_calorie_summary AS
SELECT
    user_id,
    DATE_TRUNC('day', event_timestamp) as day_bucket,
    SUM(calories_amount) as total_calories,
    COUNT(*) as event_count,
    AVG(calories_amount) as avg_calories_per_event,
    MIN(event_timestamp) as first_event,
    MAX(event_timestamp) as last_event
FROM calorie_events
GROUP BY user_id, DATE_TRUNC('day', event_timestamp)
ORDER BY user_id, day_bucket"""
# The peer's answer for a range of days (bench/bare_peer.py serves the same statement).
PEER_QUERY = (
    "SELECT * FROM daily_calorie_summary"
    " WHERE user_id = $1 AND day_bucket >= $2 AND day_bucket < $3"
)
# Ours: the daily rollups of the range (what summary.py reads for days, weeks, months, years).
OURS_QUERY = "SELECT * FROM nutrition_calories_daily WHERE user_id = $1 AND day >= $2 AND day <= $3"

# ------------------------------------------------------------------------------ the users


@dataclass
class Users:
    ids: list[uuid.UUID]
    zones: list[str | None]  # the profile's timezone (None: the rollups are in UTC)
    first_day: dt.date  # the loaded year: its first and last UTC day
    last_day: dt.date


def user_records(args: argparse.Namespace, first_day: dt.date) -> dict[str, list[tuple[Any, ...]]]:
    """Profiles (profiles_read's, with this bench's timezones), body metrics, one target each
    (the derived maintenance target, in force from before the year) and a weight a month."""
    rng = random.Random(args.seed + 1)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = now.date()
    start = dt.datetime.combine(first_day, dt.time(), dt.UTC)
    profiles, bodies, targets, weights = [], [], [], []
    for index, record in enumerate(pr.profile_records(args.users, args.seed)):
        zone = ZONES[index % len(ZONES)]
        created = min(record[9], start - dt.timedelta(days=30))
        profiles.append((*record[:7], zone, record[8], created, max(record[10], created), 1))
        user_id = record[0]
        sex = rng.choice(("male", "female", "female", "male", "other"))
        height = round(rng.gauss(178 if sex == "male" else 165, 8), 1)
        weight = round(max(45.0, rng.gauss(height - 95, 12)), 1)
        birth = today - dt.timedelta(days=rng.randrange(18 * 365, 75 * 365))
        level = rng.choice(ACTIVITY_LEVELS)
        body_fat = None if rng.random() < 0.5 else round(rng.uniform(10, 40), 1)
        bodies.append(
            (user_id, height, weight, birth, sex, level, body_fat, "metric", created, created, 1)
        )
        bmr = formulas.bmr_mifflin_st_jeor(weight, height, formulas.age_on(birth, today), sex)
        target = formulas.calorie_target(formulas.tdee(bmr, level), "maintenance", sex, None)
        effective = start - dt.timedelta(days=rng.randrange(1, 30), seconds=rng.randrange(86400))
        targets.append((user_id, effective, float(round(target.kcal)), "derived", target.clamped))
        drift = rng.uniform(-0.4, 0.3)  # kg a month
        for month in range(12):
            day = first_day + dt.timedelta(days=30 * month + rng.randrange(30))
            if day <= today:
                kg = round(weight + drift * (month - 11) + rng.uniform(-0.5, 0.5), 1)
                logged = dt.datetime.combine(day, dt.time(7, 30), dt.UTC)
                weights.append((user_id, day, kg, logged))
    return {
        "profiles": profiles,
        "nutrition_body": bodies,
        "nutrition_targets": targets,
        "nutrition_weights": weights,
    }


# ----------------------------------------------------------------------------- the events


def event_chunks(users: Users, events: int, seed: int, now: dt.datetime) -> Iterator[bytes]:
    """``events`` calorie events as COPY text, in the order they happened (users interleaved):
    each user's share spread at random over the loaded year's days, at local hours people log
    at, 70% eaten, 20% burned by activity, 10% burned otherwise; kcal with up to 3 decimals."""
    rng = random.Random(seed)
    days = (users.last_day - users.first_day).days + 1
    count = len(users.ids)
    per_day = [array("I") for _ in range(days)]
    each, extra = divmod(events, count)
    for index in range(count):
        day_of = per_day
        for _ in range(each + (index < extra)):
            day_of[int(rng.random() * days)].append(index)
    middle = dt.datetime.combine(users.first_day, dt.time(), dt.UTC) + dt.timedelta(days=days / 2)
    offsets = [
        int(ZoneInfo(zone or "UTC").utcoffset(middle.replace(tzinfo=None)).total_seconds())
        for zone in users.zones
    ]
    ids = [str(user_id) for user_id in users.ids]
    hours = [h for h, weight in enumerate(LOCAL_HOUR_WEIGHTS) for _ in range(weight)]
    base = int(dt.datetime.combine(users.first_day, dt.time(), dt.UTC).timestamp())
    prefixes = [(users.first_day + dt.timedelta(days=d)).isoformat() + " " for d in range(days + 2)]
    clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]
    latest = int(now.timestamp()) - base
    variant, version = 0x8 << 60, 0x4 << 76
    mask = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)
    random_ = rng.random
    getrandbits = rng.getrandbits
    for day in range(days):
        moments = []
        for index in per_day[day]:
            local = hours[int(random_() * len(hours))] * 3600 + int(random_() * 3600)
            moments.append(((local - offsets[index]) % 86400 + day * 86400, index))
        moments.sort()
        lines = []
        for moment, index in moments:
            pick = random_()
            if pick < 0.7:
                kind, kcal = "consumed", int(random_() * 850) + 50
                source = SOURCES[int(random_() * len(SOURCES))]
            elif pick < 0.9:
                kind, kcal = "burned_activity", int(random_() * 700) + 30
                source = ACTIVITY_SOURCES[int(random_() * len(ACTIVITY_SOURCES))]
            else:
                kind, kcal = "burned_other", int(random_() * 150) + 5
                source = None
            fraction = random_()
            if fraction < 0.5:  # half whole kcal, the rest with 1 to 3 decimals
                amount = f"{kcal}"
            elif fraction < 0.75:
                amount = f"{kcal}.{int(random_() * 10)}"
            else:
                amount = f"{kcal}.{int(random_() * 1000):03d}"
            created = min(moment + int(random_() * 900), latest)
            stamp = prefixes[created // 86400] + clock[created % 86400]
            metadata = METADATA[int(random_() * 4)] if random_() < 0.1 else NULL
            lines.append(
                f"{ids[index]}\t{(getrandbits(128) & mask) | variant | version:032x}\t{kind}\t"
                f"{amount}\t{prefixes[moment // 86400]}{clock[moment % 86400]}\t"
                f"{source or NULL}\t{NULL}\t{metadata}\t{stamp}\t{stamp}\n"
            )
            if len(lines) >= 8192:
                yield "".join(lines).encode()
                lines = []
        if lines:
            yield "".join(lines).encode()


def _write_events(fd: int, users: Users, events: int, seed: int, now: dt.datetime) -> None:
    with os.fdopen(fd, "wb", buffering=0) as pipe:
        for chunk in event_chunks(users, events, seed, now):
            pipe.write(chunk)


async def copy_events(conn: asyncpg.Connection, users: Users, events: int, seed: int) -> None:
    """COPY the events from a child process generating them into a pipe: the generator and
    PostgreSQL's COPY run on a core each."""
    read_fd, write_fd = os.pipe()
    context = multiprocessing.get_context("fork")
    now = dt.datetime.now(dt.UTC)
    child = context.Process(target=_write_events, args=(write_fd, users, events, seed, now))
    child.start()
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as source:
            await conn.copy_to_table(
                "nutrition_calories", source=source, columns=EVENT_COLUMNS, format="text"
            )
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    if child.exitcode != 0:
        raise RuntimeError(f"the event generator exited with {child.exitcode}")


# --------------------------------------------------------------------------------- loading


@dataclass
class Structure:
    """A table's primary key, foreign keys and indexes, as SQL that recreates them."""

    table: str
    primary: list[str]
    indexes: list[str]
    foreign: list[str]

    @property
    def statements(self) -> list[str]:
        return self.primary + self.indexes + self.foreign


async def structure(conn: asyncpg.Connection, table: str) -> Structure:
    constraints = await conn.fetch(
        "SELECT conname, contype::text AS contype, pg_get_constraintdef(oid) AS definition"
        " FROM pg_constraint"
        " WHERE conrelid = $1::regclass AND contype IN ('p', 'f') ORDER BY conname",
        table,
    )
    indexes = await conn.fetch(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass)"
        " ORDER BY indexname",
        table,
    )
    return Structure(
        table,
        [
            f"ALTER TABLE {table} ADD CONSTRAINT {c['conname']} {c['definition']}"
            for c in constraints
            if c["contype"] == "p"
        ],
        [row["indexdef"] for row in indexes],
        [
            f"ALTER TABLE {table} ADD CONSTRAINT {c['conname']} {c['definition']}"
            for c in constraints
            if c["contype"] == "f"
        ],
    )


async def detach(conn: asyncpg.Connection, table: str) -> Structure:
    """Drop the table's keys and indexes before a bulk load (rebuilt once after it, by
    ``attach``, from the definitions read here: the schema ends as the migrations made it)."""
    found = await structure(conn, table)
    for statement in found.foreign:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {statement.split()[5]}")
    for statement in found.indexes:
        name = re.search(r"INDEX (\S+) ON", statement).group(1)
        await conn.execute(f"DROP INDEX {name}")
    for statement in found.primary:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {statement.split()[5]}")
    return found


async def attach(conn: asyncpg.Connection, found: Structure) -> None:
    for statement in found.statements:
        await conn.execute(statement)
    if await structure(conn, found.table) != found:
        raise RuntimeError(
            f"{found.table}: keys and indexes differ from the migrations' after load"
        )


class Steps:
    """Times each load step and prints it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.info: dict[str, Any] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - started, 1)
        print(f"  {name}: {self.seconds[name]:.1f}s", flush=True)


async def load(dsn: str, args: argparse.Namespace, steps: Steps) -> Users:
    today = dt.datetime.now(dt.UTC).date()
    last_day = today - dt.timedelta(days=1)
    users = Users([], [], last_day - dt.timedelta(days=args.days - 1), last_day)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'; SET work_mem = '256MB'")
        with steps.step("users: profiles, body metrics, targets, weights (COPY)"):
            records = user_records(args, users.first_day)
            for table, rows in records.items():
                columns = {
                    "profiles": pr.COLUMNS,
                    "nutrition_body": BODY_COLUMNS,
                    "nutrition_targets": ("user_id", "effective_at", "kcal", "source", "clamped"),
                    "nutrition_weights": ("user_id", "day", "weight_kg", "logged_at"),
                }[table]
                await conn.copy_records_to_table(table, records=rows, columns=columns)
            users.ids = [row[0] for row in records["profiles"]]
            users.zones = [row[7] for row in records["profiles"]]
        calories = await detach(conn, "nutrition_calories")
        with steps.step(f"events: {args.events:,} generated and COPYed (no keys)"):
            await copy_events(conn, users, args.events, args.seed + 2)
        with steps.step("events: primary key, ix_nutrition_calories_at, foreign key"):
            await attach(conn, calories)
        with steps.step("rollup zones"):
            await conn.execute(ZONE_SQL)
        for table, sql in zip(ROLLUP_TABLES, (HOURLY_SQL, DAILY_SQL), strict=True):
            found = await detach(conn, table)
            with steps.step(f"{table}: built from the events (INSERT ... SELECT)"):
                await conn.execute(sql)
            with steps.step(f"{table}: primary key, foreign key"):
                await attach(conn, found)
        with steps.step("VACUUM (ANALYZE) profilestore's tables"):
            for table in (*records, "nutrition_calories", *ROLLUP_TABLES, "nutrition_rollup_zone"):
                await conn.execute(f"VACUUM (ANALYZE) {table}")
        with steps.step("peer: calorie_events filled from the events (INSERT ... SELECT)"):
            await conn.execute(PEER_TABLE_SQL)
            await conn.execute(PEER_FILL_SQL)
        with steps.step("peer: the seed's 4 indexes, its view, VACUUM (ANALYZE)"):
            for sql in PEER_INDEX_SQL:
                await conn.execute(sql)
            await conn.execute(PEER_VIEW_SQL)
            await conn.execute("VACUUM (ANALYZE) calorie_events")
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("nutrition_calories", "calorie_events", *ROLLUP_TABLES)
        }
        print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        if counts["nutrition_calories"] != args.events or counts["calorie_events"] != args.events:
            raise RuntimeError(f"loaded {counts}, expected {args.events:,} events")
        steps.info["rows"] = counts
        steps.info["sizes_mb"] = await table_sizes(conn)
    finally:
        await conn.close()
    return users


async def table_sizes(conn: asyncpg.Connection) -> dict[str, float]:
    """Heap and index size of the tables that matter, in MB."""
    found = {}
    for table in ("nutrition_calories", *ROLLUP_TABLES, "calorie_events"):
        heap, indexes = await conn.fetchrow(
            "SELECT pg_table_size($1::regclass), pg_indexes_size($1::regclass)", table
        )
        found[table] = {"heap": round(heap / 2**20, 1), "indexes": round(indexes / 2**20, 1)}
    return found


async def existing_users(dsn: str, args: argparse.Namespace) -> Users:
    """The users of a kept database (``--database``); the year: the loaded events' last days."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch("SELECT user_id, timezone FROM profiles ORDER BY username")
        last = await conn.fetchval("SELECT max(day) FROM nutrition_calories_daily")
    finally:
        await conn.close()
    today = dt.datetime.now(dt.UTC).date()
    last_day = min(last, today - dt.timedelta(days=1))
    first = last_day - dt.timedelta(days=args.days - 1)
    return Users([r["user_id"] for r in rows], [r["timezone"] for r in rows], first, last_day)


# ---------------------------------------------------------------------------------- checks


def summary_path(user_id: uuid.UUID, first: dt.date, last: dt.date) -> str:
    return (
        f"/v1/profiles/{user_id}/calories/summary?granularity=day&from={first.isoformat()}"
        f"&to={last.isoformat()}"
    )


def peer_path(user_id: uuid.UUID, first: dt.date, last: dt.date) -> str:
    return f"/calorie-summary/{user_id}?from={first.isoformat()}&to={last.isoformat()}"


def peer_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.combine(first, dt.time()), dt.datetime.combine(
        last + dt.timedelta(days=1), dt.time()
    )


async def check_rollups(dsn: str, users: Users, sample: int) -> dict[str, Any]:
    """The SQL-built rollups of a sample of users (as many of each zone, and New York users with
    events in the hour the autumn DST change repeats) equal what the app's own code
    (rollups.Fold) counts from their events; every user's rollup zone is their profile's."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        wrong_zone = await conn.fetchval(
            "SELECT count(*) FROM profiles p LEFT JOIN nutrition_rollup_zone z USING (user_id)"
            " WHERE z.timezone IS DISTINCT FROM coalesce(p.timezone, 'UTC')"
        )
        if wrong_zone:
            raise RuntimeError(f"{wrong_zone} users' rollup zone is not their profile's")
        order = list(range(len(users.ids)))
        random.Random(7).shuffle(order)
        each = max(1, sample // len(ZONES))  # as many users of each zone
        chosen = {i for zone in ZONES for i in [j for j in order if users.zones[j] == zone][:each]}
        repeated = []
        for low, high in repeated_hours(users, "America/New_York"):
            repeated += await conn.fetch(
                "SELECT DISTINCT c.user_id FROM nutrition_calories c JOIN profiles p"
                " USING (user_id) WHERE p.timezone = 'America/New_York' AND c.at >= $1"
                " AND c.at < $2 LIMIT 3",
                low,
                high,
            )
        picked = [users.ids[i] for i in sorted(chosen)] + [r["user_id"] for r in repeated]
        events = hours = days = 0
        for user_id in picked:
            zone = await conn.fetchval(
                "SELECT timezone FROM nutrition_rollup_zone WHERE user_id = $1", user_id
            )
            ledger = await conn.fetch(
                "SELECT kind, kcal, at FROM nutrition_calories WHERE user_id = $1", user_id
            )
            fold = rollups.Fold(ZoneInfo(zone)).add_all(tuple(row) for row in ledger)
            for table, key, counted in (
                ("nutrition_calories_hourly", "hour_start", fold.hours),
                ("nutrition_calories_daily", "day", fold.days),
            ):
                stored = {
                    row[key]: rollups.Totals.of(_Row(row))
                    for row in await conn.fetch(
                        f"SELECT * FROM {table} WHERE user_id = $1", user_id
                    )
                }
                if stored != counted:
                    differing = [
                        k for k in stored.keys() | counted.keys() if stored.get(k) != counted.get(k)
                    ]
                    raise RuntimeError(
                        f"{table} of {user_id} ({zone}) differs from the app's fold at "
                        f"{sorted(differing)[:5]}"
                    )
            events, hours, days = (
                events + len(ledger),
                hours + len(fold.hours),
                days + len(fold.days),
            )
    finally:
        await conn.close()
    print(
        f"  checked: rollups of {len(picked)} users ({events:,} events, {hours:,} hours, "
        f"{days:,} days; {len(repeated)} New York users with events in the repeated DST hour) "
        "equal the app's own fold; every rollup zone is the profile's"
    )
    return {"users": len(picked), "events": events, "dst_repeated_hour_users": len(repeated)}


def repeated_hours(users: Users, zone: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """The instants of the local hours a DST change repeats in the loaded year (both times)."""
    tz, found = ZoneInfo(zone), []
    instant = dt.datetime.combine(users.first_day, dt.time(), dt.UTC)
    end = dt.datetime.combine(users.last_day, dt.time(), dt.UTC) + dt.timedelta(days=1)
    while instant < end:
        later = instant + dt.timedelta(hours=1)
        if later.astimezone(tz).utcoffset() < instant.astimezone(tz).utcoffset():
            found.append((later - dt.timedelta(hours=1), later + dt.timedelta(hours=1)))
        instant = later
    return found


class _Row:
    """Attribute access to an asyncpg record (rollups.Totals.of reads attributes)."""

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record[name]


async def check_answers(
    dsn: str, ours: pr.Server, peer: pr.Server, users: Users, tokens: dict[uuid.UUID, str]
) -> dict[str, Any]:
    """Our summary has one bucket per day of the year whose counts and sums are the user's
    events of those local days; the peer's HTTP answer is its view's rows; for a UTC user the
    two agree day by day (the peer buckets by UTC day: it has no timezones)."""
    first, last = users.first_day, users.last_day
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        checked = []
        for zone in ("UTC", "Asia/Kolkata", "America/New_York"):
            user_id = next(u for u, z in zip(users.ids, users.zones, strict=True) if z == zone)
            status, doc = mh.call(ours, "GET", summary_path(user_id, first, last), tokens[user_id])
            if status != 200:
                raise RuntimeError(f"summary of {user_id}: {status} {doc!r}")
            buckets = doc["buckets"]
            expected_days = [
                (first + dt.timedelta(days=d)).isoformat() for d in range(year_days(users))
            ]
            if [b["start"] for b in buckets] != expected_days or doc["timezone"] != zone:
                raise RuntimeError(
                    f"summary of {user_id}: buckets {[b['start'] for b in buckets][:3]}..."
                )
            count, consumed, burned = await conn.fetchrow(
                "SELECT count(*), coalesce(sum(round(kcal * 1000)::bigint) FILTER (WHERE kind ="
                " 'consumed'), 0), coalesce(sum(round(kcal * 1000)::bigint) FILTER (WHERE kind"
                " <> 'consumed'), 0) FROM nutrition_calories WHERE user_id = $1"
                " AND (at AT TIME ZONE $2)::date BETWEEN $3 AND $4",
                user_id,
                zone,
                first,
                last,
            )
            got = (
                sum(b["count"] for b in buckets),
                round(sum(b["consumed"] for b in buckets) * 1000),
                round(sum(b["burned"] for b in buckets) * 1000),
            )
            if got != (count, consumed, burned):
                raise RuntimeError(
                    f"summary of {user_id}: {got}, events say {(count, consumed, burned)}"
                )
            view = await conn.fetch(PEER_QUERY, user_id, *peer_bounds(first, last))
            status, answer = mh.call(peer, "GET", peer_path(user_id, first, last), "")
            if status != 200 or [r["event_count"] for r in view] != [
                d["event_count"] for d in answer["days"]
            ]:
                raise RuntimeError(f"peer answer of {user_id}: {status} {str(answer)[:300]}")
            if zone == "UTC":
                ours_days = {b["start"]: b["count"] for b in buckets if b["count"]}
                peer_days = {r["day_bucket"].date().isoformat(): r["event_count"] for r in view}
                if ours_days != peer_days:
                    raise RuntimeError(f"UTC user {user_id}: ours and the peer count days apart")
                for row in view:
                    bucket = buckets[(row["day_bucket"].date() - first).days]
                    total = bucket["consumed"] + bucket["burned"]
                    if (
                        abs(float(row["total_calories"]) - total)
                        > 0.005 * row["event_count"] + 1e-6
                    ):
                        raise RuntimeError(
                            f"UTC user {user_id} {row['day_bucket']}: {total} vs {row}"
                        )
            checked.append({"zone": zone, "events": count, "days_with_events": len(view)})
        missing = mh.call(ours, "GET", summary_path(uuid.uuid4(), first, last), pr.mint_token())
        if missing[0] != 404:
            raise RuntimeError(f"summary of an unknown user: {missing[0]}")
    finally:
        await conn.close()
    sizes = {
        OURS: len(json.dumps(doc, separators=(",", ":"))),
        PEER: len(json.dumps(answer, separators=(",", ":"))),
    }
    print(
        f"  checked: a year of days ({year_days(users)} buckets) for a UTC, an Asia/Kolkata and an"
        " America/New_York user: counts and sums are their events'; the peer's HTTP answer is its"
        " view's rows, and for the UTC user it agrees with ours day by day; unknown user: 404"
    )
    print(
        f"  a year's answer: ours {sizes[OURS]:,} bytes, peer {sizes[PEER]:,} bytes (compact JSON)"
    )
    return {"users": checked, "answer_bytes": sizes, "example_bucket": buckets[-1]}


def year_days(users: Users) -> int:
    return (users.last_day - users.first_day).days + 1


def check_ingest(
    ours: pr.Server, user_id: uuid.UUID, token: str, zone: str | None, batch: int
) -> None:
    """A batch of new events answers 201 with every event created, and shows at once in the
    summary of the user's last two local days."""
    local_today = dt.datetime.now(ZoneInfo(zone or "UTC")).date()
    path = summary_path(user_id, local_today - dt.timedelta(days=1), local_today)
    status, before = mh.call(ours, "GET", path, token)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = {
        "events": [
            {
                "event_id": str(uuid.uuid4()),
                "kind": "consumed",
                "kcal": 100.5 + i,
                "at": (now - dt.timedelta(minutes=1 + i % 30)).isoformat(),
            }
            for i in range(batch)
        ]
    }
    status, answer = mh.call(ours, "POST", f"/v1/profiles/{user_id}/calories", token, body)
    if status != 201 or answer.get("created") != batch:
        raise RuntimeError(f"ingest of {batch} events: {status} {str(answer)[:300]}")
    status, after = mh.call(ours, "GET", path, token)
    grew = sum(b["count"] for b in after["buckets"]) - sum(b["count"] for b in before["buckets"])
    if status != 200 or grew != batch:
        raise RuntimeError(f"after ingesting {batch} events the summary grew by {grew}")
    print(
        f"  checked: a batch of {batch} answers 201 (all created) and shows in the summary at once"
    )


# ------------------------------------------------------------------------------- latency


@dataclass
class Latency:
    """One sequential run: a single client, one request (or query) at a time."""

    target: str
    round: int
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_us_per_request: float | None  # the HTTP server's process tree
    backing_cpu_us_per_request: dict[str, float] = field(default_factory=dict)  # postgres, redis


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


Meter = Callable[[], dict[str, float]]
"""CPU seconds so far of the processes a run is charged for (read before and after it)."""
POSTGRES_HELPERS = ("walwriter", "checkpointer", "background writer")


def meter_for(bench: Bench, server: pr.Server | None) -> Meter:
    """CPU seconds so far of ``server``'s process tree (``server``), Redis (``redis``: its INFO)
    and, per process (``pg:<pid>``), PostgreSQL's backends of the bench database (the servers'
    pools, a SQL client, autovacuum there) and its WAL writer, checkpointer and background
    writer: not the other databases' backends of a shared server. Found by process title."""
    needle = f" {bench.dsn.rsplit('/', 1)[1]} "

    def meter() -> dict[str, float]:
        found: dict[str, float] = {}
        if bench.postmaster is not None:
            for pid in pr._process_tree(bench.postmaster)[1:]:
                with contextlib.suppress(OSError):
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    text = title.decode(errors="replace").rstrip()
                    if needle in text or text.endswith(POSTGRES_HELPERS):
                        found[f"pg:{pid}"] = pr._cpu_seconds(pid)
        with contextlib.suppress(redis.RedisError):
            info = bench.redis.info("cpu")
            found["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        if server is not None:
            found["server"] = server.cpu_seconds()
        return found

    return meter


def http_sequential(
    base: str, requests: list[tuple[str, str]], duration: float, seed: int, meter: Meter
) -> tuple[list[float], int, dict[str, float]]:
    """GET random ``(path, token)`` items one after the other on one keep-alive connection for
    ``duration`` seconds: latencies (seconds, whole answer read), the answers outside 2xx and
    the CPU the meter saw."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    rng = random.Random(seed)
    latencies, errors = [], 0
    before = meter()
    deadline = time.perf_counter() + duration
    try:
        while (started := time.perf_counter()) < deadline:
            path, token = requests[rng.randrange(len(requests))]
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            if not 200 <= response.status < 300:
                errors += 1
        used = _spent(before, meter())
    finally:
        conn.close()
    return latencies, errors, used


async def sql_sequential(
    dsn: str,
    query: str,
    params: list[tuple[Any, ...]],
    duration: float,
    seed: int,
    meter: Meter,
) -> tuple[list[float], int, dict[str, float]]:
    """The statement (prepared once) with random parameters, one at a time, for ``duration``
    seconds: latencies (seconds, rows decoded by asyncpg) and the CPU the meter saw (read while
    the connection's backend is alive: an exited process takes its CPU time with it)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        statement = await conn.prepare(query)
        rng = random.Random(seed)
        latencies = []
        before = meter()
        deadline = time.perf_counter() + duration
        while (started := time.perf_counter()) < deadline:
            await statement.fetch(*params[rng.randrange(len(params))])
            latencies.append(time.perf_counter() - started)
        used = _spent(before, meter())
    finally:
        await conn.close()
    return latencies, 0, used


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two readings, PostgreSQL's processes summed: a backend that started
    within the run (a pool growing) counts whole, one that ended within it is lost."""
    spent = {"postgres": 0.0}
    for name in after:
        if name in before or name.startswith("pg:"):
            key = "postgres" if name.startswith("pg:") else name
            spent[key] = spent.get(key, 0.0) + after[name] - before.get(name, 0.0)
    return spent


@dataclass
class Bench:
    """What the measurements need: servers, requests, the backing services' CPU."""

    args: argparse.Namespace
    dsn: str
    wrk: str
    users: Users
    ours: pr.Server
    peer: pr.Server
    postmaster: int | None  # PostgreSQL's, when it runs on this machine
    redis: redis.Redis
    http: dict[str, tuple[pr.Server, list[tuple[str, str]]]]
    sql: dict[str, tuple[str, list[tuple[Any, ...]]]]


def measure_latency(bench: Bench, target: str, duration: float, round_number: int) -> Latency:
    server = bench.http[target][0] if target in bench.http else None
    meter = meter_for(bench, server)
    seed = bench.args.seed * 100 + round_number
    if server is not None:
        requests = bench.http[target][1]
        latencies, errors, used = http_sequential(server.base, requests, duration, seed, meter)
    else:
        query, params = bench.sql[target]
        latencies, errors, used = asyncio.run(
            sql_sequential(bench.dsn, query, params, duration, seed, meter)
        )
    cpu = used.pop("server", None)
    ordered = sorted(latencies)
    count = max(len(ordered), 1)
    return Latency(
        target=target,
        round=round_number,
        requests=len(ordered),
        errors=errors,
        p50_ms=round(percentile(ordered, 0.50) * 1000, 3),
        p90_ms=round(percentile(ordered, 0.90) * 1000, 3),
        p99_ms=round(percentile(ordered, 0.99) * 1000, 3),
        mean_ms=round(statistics.fmean(ordered) * 1000, 3),
        max_ms=round(ordered[-1] * 1000, 3),
        server_cpu_us_per_request=round(cpu / count * 1e6, 1) if cpu is not None else None,
        backing_cpu_us_per_request={k: round(v / count * 1e6, 1) for k, v in used.items()},
    )


# ------------------------------------------------------------------------------------- wrk

SUMMARY_LUA = """-- generated by bench/nutrition.py: GET a random line's path with its bearer token
local requests = {}

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for line in io.lines(@@FILE@@) do
    local path, token = line:match("^(%S+) (%S+)$")
    if path then
      requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
    end
  end
end

function request()
  return requests[math.random(#requests)]
end
"""

INGEST_LUA = """-- generated by bench/nutrition.py: POST a batch of new events of a random user
local batch = @@BATCH@@
local users, tokens = {}, {}
-- 70% eaten, 20% burned by activity, 10% burned otherwise
local kinds = { "consumed", "consumed", "consumed", "consumed", "consumed", "consumed",
  "consumed", "burned_activity", "burned_activity", "burned_other" }
local event = '{"event_id":"%s","kind":"%s","kcal":%d.%d,"at":"%s"}'

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for line in io.lines(@@FILE@@) do
    local user, token = line:match("^(%S+) (%S+)$")
    if user then
      users[#users + 1] = user
      tokens[#tokens + 1] = token
    end
  end
end

local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0, 65535), r(0, 65535),
    r(0, 65535), r(0, 4095), r(32768, 49151), r(0, 65535), r(0, 65535), r(0, 65535))
end

function request()
  local i = math.random(#users)
  local now = os.time()
  local events = {}
  for k = 1, batch do
    -- logged within the last 6 hours, kcal with one decimal
    local at = os.date("!%Y-%m-%dT%H:%M:%S+00:00", now - math.random(60, 6 * 3600))
    events[k] = string.format(event, uuid4(), kinds[math.random(#kinds)], math.random(5, 900),
      math.random(0, 9), at)
  end
  local body = '{"events":[' .. table.concat(events, ",") .. ']}'
  return wrk.format("POST", "/v1/profiles/" .. users[i] .. "/calories", {
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json",
  }, body)
end
"""


@dataclass
class WrkRun:
    wrk: pr.WrkResult
    backing_cpu_us_per_request: dict[str, float]  # postgres, redis


def measure_wrk(
    bench: Bench,
    server: pr.Server,
    target: str,
    script: Path,
    connections: int,
    duration: float,
    round_number: int,
) -> WrkRun:
    """``wrk -t1 -c<connections>`` (profiles_read's run_wrk: it charges the server's CPU) with
    PostgreSQL's and Redis's CPU around it; answers outside 2xx as the Lua script counted them
    (media_history's counters: wrk itself counts statuses >= 400 only)."""
    meter = meter_for(bench, None)
    options = argparse.Namespace(threads=1, connections=connections)
    before = meter()
    result = pr.run_wrk(bench.wrk, server, script, options, duration, round_number)
    used = _spent(before, meter())
    counted = re.search(r"^Non-2xx answers: (\d+)", result.raw, re.M)
    bad = max(result.non_2xx, int(counted.group(1)) if counted else 0)
    result = replace(result, target=target, non_2xx=bad)
    per_request = 1e6 / max(result.requests, 1)
    return WrkRun(result, {k: round(v * per_request, 1) for k, v in used.items()})


# ------------------------------------------------------------------------------- EXPLAIN


async def explain(dsn: str, users: Users) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the peer's query and of ours for one user's year, run
    twice: the plan, rows and buffers of the top node of the second (warm) run, and the first
    run's buffers (``read``: not in shared_buffers, from the OS's cache or the disk)."""
    user_id = users.ids[len(users.ids) // 2]
    conn = await asyncpg.connect(dsn, timeout=10)
    found = {}
    try:
        for name, query, params in (
            (PEER_SQL, PEER_QUERY, (user_id, *peer_bounds(users.first_day, users.last_day))),
            (OURS_SQL, OURS_QUERY, (user_id, users.first_day, users.last_day)),
        ):
            sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query
            first = json.loads(await conn.fetchval(sql, *params))[0]
            plan = json.loads(await conn.fetchval(sql, *params))[0]
            text = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *params)]
            top = plan["Plan"]
            found[name] = {
                "rows": top["Actual Rows"],
                "shared_hit": top.get("Shared Hit Blocks", 0),
                "shared_read": top.get("Shared Read Blocks", 0),
                "execution_ms": plan["Execution Time"],
                "planning_ms": plan["Planning Time"],
                "first_run": {
                    "shared_hit": first["Plan"].get("Shared Hit Blocks", 0),
                    "shared_read": first["Plan"].get("Shared Read Blocks", 0),
                    "execution_ms": first["Execution Time"],
                },
                "plan": text,
            }
    finally:
        await conn.close()
    return found


# -------------------------------------------------------------------------------- the run


def benchmark(
    args: argparse.Namespace,
    wrk: str,
    users: Users,
    workdir: Path,
    servers: list[pr.Server],
    dsn: str,
    url: str,
) -> dict[str, Any]:
    pool = asyncio.run(
        pr.pool_size_per_worker(
            dsn, 2, args.workers, max(args.ingest_connections, args.wrk_connections)
        )
    )
    # Rate limits stay on (their cost is the service's): every request carries its user's own
    # token, and a user's share of the load stays far below the per-user quotas.
    ours = pr.start_profilestore(
        "profilestore-nutrition", url, args.workers, "WARNING", workdir, pool, cached=True
    )
    servers.append(ours)
    peer = pr.start_peer(dsn, args.workers, workdir, pool)
    servers.append(peer)
    for server in servers:
        pr.wait_healthy(server)
    tokens = {user_id: pr.mint_token(str(user_id), "user") for user_id in users.ids}
    first, last = users.first_day, users.last_day
    print(f"checking (year: {first} to {last}, {year_days(users)} days; {len(users.ids):,} users)")
    checks = {
        "rollups": asyncio.run(check_rollups(dsn, users, args.check_users)),
        "answers": asyncio.run(check_answers(dsn, ours, peer, users, tokens)),
    }
    probe = users.ids[-1]
    check_ingest(ours, probe, tokens[probe], users.zones[-1], args.batch)
    low, high = peer_bounds(first, last)
    bench = Bench(
        args,
        dsn,
        wrk,
        users,
        ours,
        peer,
        asyncio.run(mh.postgres_pid(dsn)),
        redis.Redis.from_url(pr.REDIS_URL),
        http={
            OURS: (ours, [(summary_path(u, first, last), tokens[u]) for u in users.ids]),
            PEER: (peer, [(peer_path(u, first, last), tokens[u]) for u in users.ids]),
        },
        sql={
            OURS_SQL: (OURS_QUERY, [(u, first, last) for u in users.ids]),
            PEER_SQL: (PEER_QUERY, [(u, low, high) for u in users.ids]),
        },
    )
    explained = asyncio.run(explain(dsn, users))
    for name, found in explained.items():
        print(
            f"  EXPLAIN (ANALYZE, BUFFERS), {name}, warm: {found['rows']} rows, buffers shared "
            f"hit {found['shared_hit']} read {found['shared_read']}, {found['execution_ms']:.2f} ms"
            f" (first run: read {found['first_run']['shared_read']}, "
            f"{found['first_run']['execution_ms']:.2f} ms)"
        )
        for line in found["plan"]:
            print(f"      {line}")

    print(
        f"latency: one client, one request at a time, random user among {len(users.ids):,}; "
        f"{args.rounds} rounds of {args.duration:g}s per target, alternating "
        f"{', '.join(LATENCY_TARGETS)}; {args.workers} workers, pool {pool} each; "
        f"{os.cpu_count()} CPUs"
    )
    load_before = os.getloadavg()
    for target in LATENCY_TARGETS if args.warmup > 0 else ():
        measure_latency(bench, target, args.warmup, 0)
    latency: list[Latency] = []
    throughput: list[WrkRun] = []
    scripts = {}
    if args.wrk_duration > 0:
        for target in (OURS, PEER):
            lines = [f"{path} {token}" for path, token in bench.http[target][1]]
            scripts[target] = mh.write_script(workdir, target, SUMMARY_LUA, lines, "")
            if args.warmup > 0:  # the pools open their connections before the measured runs
                server_ = bench.http[target][0]
                measure_wrk(
                    bench, server_, target, scripts[target], args.wrk_connections, args.warmup, 0
                )
    for round_number in range(1, args.rounds + 1):
        for target in LATENCY_TARGETS:
            run = measure_latency(bench, target, args.duration, round_number)
            latency.append(run)
            server = (
                ""
                if run.server_cpu_us_per_request is None
                else (f"server {run.server_cpu_us_per_request:6.0f} us/req  ")
            )
            print(
                f"  round {round_number} {target:<10} {run.requests:>6} req  p50 "
                f"{run.p50_ms:7.2f} ms  p90 {run.p90_ms:7.2f}  p99 {run.p99_ms:7.2f}  {server}"
                f"postgres {run.backing_cpu_us_per_request.get('postgres', 0):6.0f} us/req"
                + ("  <-- ERRORS" if run.errors else "")
            )
        for target, script in scripts.items():
            server_ = bench.http[target][0]
            connections = args.wrk_connections
            run_ = measure_wrk(
                bench, server_, target, script, connections, args.wrk_duration, round_number
            )
            throughput.append(run_)
            r = run_.wrk
            print(
                f"  round {round_number} {target:<10} wrk -c{args.wrk_connections}: "
                f"{r.requests_per_second:7.0f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f}"
                f"  server {r.cpu_us_per_request:6.0f} us/req  postgres "
                f"{run_.backing_cpu_us_per_request.get('postgres', 0):6.0f} us/req"
                + ("  <-- ERRORS" if r.errors else "")
            )
    profiles = {}
    if args.py_spy:

        def summaries(seconds: float) -> str:
            return f"one client, p50 {measure_latency(bench, OURS, seconds, 0).p50_ms:.2f} ms"

        profiles["summary"] = profile_ours(args, bench, "summary", summaries)
    ingest = measure_ingest(args, bench, workdir, profiles)
    return {
        "pool": pool,
        "load_before": load_before,
        "checks": checks,
        "explain": explained,
        "latency": latency,
        "throughput": throughput,
        "ingest": ingest,
        "py_spy": profiles,
    }


def measure_ingest(
    args: argparse.Namespace, bench: Bench, workdir: Path, profiles: dict[str, Any]
) -> dict[str, Any]:
    """Batches of ``--batch`` new events of random users over ``--ingest-connections``
    connections; afterwards the rollups still add up to the events, table-wide."""
    lines = [
        f"{u} {token}" for u, (_, token) in zip(bench.users.ids, bench.http[OURS][1], strict=True)
    ]
    script = mh.write_script(workdir, INGEST, INGEST_LUA, lines, "")
    script.write_text(script.read_text().replace("@@BATCH@@", str(args.batch)))
    connections = args.ingest_connections
    print(
        f"ingest: wrk -t1 -c{args.ingest_connections}, POST batches of {args.batch} events of a "
        f"random user, {args.rounds} rounds of {args.ingest_duration:g}s"
    )
    events_before = asyncio.run(_count(bench.dsn))
    runs = []
    if args.warmup > 0:
        runs.append(measure_wrk(bench, bench.ours, INGEST, script, connections, args.warmup, 0))
    for round_number in range(1, args.rounds + 1):
        run = measure_wrk(
            bench, bench.ours, INGEST, script, connections, args.ingest_duration, round_number
        )
        runs.append(run)
        r = run.wrk
        print(
            f"  round {round_number} {r.requests_per_second * args.batch:8.0f} events/s "
            f"({r.requests_per_second:6.1f} batches/s)  batch p50 {r.p50_ms:7.1f} ms  p99 "
            f"{r.p99_ms:7.1f}  server {r.cpu_us_per_request / args.batch:5.1f} us/event  postgres "
            f"{run.backing_cpu_us_per_request.get('postgres', 0) / args.batch:5.1f} us/event"
            + ("  <-- ERRORS" if r.errors else "")
        )
    if args.py_spy:

        def batches(seconds: float) -> str:
            runs.append(measure_wrk(bench, bench.ours, INGEST, script, connections, seconds, 0))
            rate = runs[-1].wrk.requests_per_second * args.batch
            return f"wrk -c{connections}, {rate:.0f} events/s"

        profiles["ingest"] = profile_ours(args, bench, "ingest", batches)
    events_after, consistent = (
        asyncio.run(_count(bench.dsn)),
        asyncio.run(_rollups_add_up(bench.dsn)),
    )
    answered = sum(r.wrk.requests for r in runs) * args.batch
    print(
        f"  {events_after - events_before:,} events stored ({answered:,} in answered batches; "
        f"wrk does not count the batches in flight when it stops); rollups add up to the "
        f"events table-wide: {'yes' if consistent else 'NO'}"
    )
    if not consistent:
        raise RuntimeError("after ingest the rollups do not add up to the events")
    return {
        "runs": [r for r in runs if r.wrk.round > 0],
        "events_stored": events_after - events_before,
        "events_answered": answered,
        "rollups_add_up": consistent,
    }


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await _quiet(conn)
        return int(await conn.fetchval("SELECT count(*) FROM nutrition_calories"))
    finally:
        await conn.close()


async def _quiet(conn: asyncpg.Connection, timeout: float = 60.0) -> None:
    """Wait until no other session of this database is running a statement or transaction."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
        )
        if not busy:
            return
        await asyncio.sleep(0.2)


async def _rollups_add_up(dsn: str) -> bool:
    """Per-kind counts and millikcal of the daily and hourly rollups equal the events', read in
    one snapshot once the batches wrk left in flight are done."""
    conn = await asyncpg.connect(dsn, timeout=10)
    await _quiet(conn)
    sums = ", ".join(f"sum({c})::bigint" for c in TOTALS[:6])
    per_kind = ", ".join(
        f"coalesce(sum(round(kcal * 1000)::bigint) FILTER (WHERE kind = '{kind}'), 0), "
        f"count(*) FILTER (WHERE kind = '{kind}')"
        for kind in rollups.KIND_PREFIX
    )
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            found = [tuple(await conn.fetchrow(f"SELECT {per_kind} FROM nutrition_calories"))]
            for table in ROLLUP_TABLES:
                found.append(tuple(await conn.fetchrow(f"SELECT {sums} FROM {table}")))
    finally:
        await conn.close()
    return all(row == found[0] for row in found)


def profile_ours(
    args: argparse.Namespace, bench: Bench, name: str, workload: Callable[[float], str]
) -> dict[str, Any]:
    """py-spy on our server's workers while ``workload`` runs (for the seconds given; it
    returns a line saying how it went): where the time of a summary, or of a batch, goes."""
    pr.RESULTS_DIR.mkdir(exist_ok=True)
    raw = pr.RESULTS_DIR / f"nutrition-{args.stamp}-py-spy-{name}.txt"
    seconds = max(8, int(args.duration))
    recorder = subprocess.Popen(
        [
            args.py_spy,
            "record",
            "--pid",
            str(bench.ours.process.pid),
            "--subprocesses",
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--nolineno",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # py-spy attaches before the load starts
    how = workload(seconds - 2)
    _, err = recorder.communicate(timeout=60)
    if recorder.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
    profile = pr.summarize_collapsed(raw.read_text(), top=300)
    # The frames below the server's and the framework's wrappers: where the route's time goes.
    wrappers = ("uvicorn/", "starlette/", "fastapi/", "multiprocessing/", "asyncio/", "typer/")
    own = [
        entry
        for entry in profile["top_inclusive"]
        if not entry["frame"].startswith(("process ", " spawn_main", "<module>"))
        and not any(w in entry["frame"] for w in wrappers)
    ][:40]
    print(
        f"\npy-spy on {OURS}, {name} ({how}), share of the samples (inclusive; "
        f"{raw.relative_to(pr.ROOT)}):"
    )
    for entry in own:
        print(f"  {entry['percent_of_busy']:5.1f}%  {entry['frame']}")
    print("  self:")
    for entry in profile["top_self"][:15]:
        print(f"  {entry['percent_of_busy']:5.1f}%  {entry['frame']}")
    return {
        "collapsed_stacks": str(raw.relative_to(pr.ROOT)),
        "while": how,
        "samples": profile["samples"],
        "below_the_framework": own,
        "top_self": profile["top_self"][:30],
    }


# ---------------------------------------------------------------------------------- report


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def report(args: argparse.Namespace, measured: dict[str, Any]) -> dict[str, Any]:
    latency: list[Latency] = measured["latency"]
    summary: dict[str, dict[str, Any]] = {}
    for target in LATENCY_TARGETS:
        runs = [r for r in latency if r.target == target]
        summary[target] = {
            "rounds": len(runs),
            "requests": sum(r.requests for r in runs),
            "p50_ms_median": _median([r.p50_ms for r in runs]),
            "p90_ms_median": _median([r.p90_ms for r in runs]),
            "p99_ms_median": _median([r.p99_ms for r in runs]),
            "p99_ms_worst": max(r.p99_ms for r in runs),
            "p50_ms_all": [r.p50_ms for r in runs],
            "server_cpu_us_per_request_median": _median(
                [r.server_cpu_us_per_request for r in runs]
            ),
            "postgres_cpu_us_per_request_median": _median(
                [r.backing_cpu_us_per_request.get("postgres") for r in runs]
            ),
            "errors": sum(r.errors for r in runs),
        }
    print()
    header = (
        f"{'target':<10} {'requests':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'server us/req':>14} {'postgres us/req':>16}"
    )
    print(header + "\n" + "-" * len(header))
    for target, row in summary.items():
        server = row["server_cpu_us_per_request_median"]
        print(
            f"{target:<10} {row['requests']:>9} {row['p50_ms_median']:>8.2f} "
            f"{row['p90_ms_median']:>8.2f} {row['p99_ms_median']:>8.2f} "
            f"{'-' if server is None else f'{server:.0f}':>14} "
            f"{row['postgres_cpu_us_per_request_median'] or 0:>16.0f}"
        )
    print("(one client, one request at a time; medians over rounds; server: its process tree)")
    ratio = {
        "http_p50": round(summary[PEER]["p50_ms_median"] / summary[OURS]["p50_ms_median"], 3),
        "http_p99": round(summary[PEER]["p99_ms_median"] / summary[OURS]["p99_ms_median"], 3),
        "sql_p50": round(
            summary[PEER_SQL]["p50_ms_median"] / summary[OURS_SQL]["p50_ms_median"], 3
        ),
        "sql_p99": round(
            summary[PEER_SQL]["p99_ms_median"] / summary[OURS_SQL]["p99_ms_median"], 3
        ),
    }
    met = summary[OURS]["p50_ms_median"] < TARGET_P50_MS
    print(
        f"\n(a) a year of daily summaries through the API: p50 {summary[OURS]['p50_ms_median']:.2f}"
        f" ms, p99 {summary[OURS]['p99_ms_median']:.2f} ms; target p50 < {TARGET_P50_MS:g} ms: "
        f"{'met' if met else 'NOT MET'}"
    )
    print(
        f"(c) peer (the seed's view) / ours, like for like over HTTP: {ratio['http_p50']:.2f}x "
        f"(p50), {ratio['http_p99']:.2f}x (p99); the queries alone: {ratio['sql_p50']:.2f}x "
        f"(p50), {ratio['sql_p99']:.2f}x (p99)  (above 1: ours is faster)"
    )
    throughput = {}
    runs_: list[WrkRun] = measured["throughput"]
    if runs_:
        throughput = pr.summarize([r.wrk for r in runs_], [OURS, PEER])
        for target, row in throughput.items():
            mine = [r for r in runs_ if r.wrk.target == target]
            row["postgres_cpu_us_per_request_median"] = _median(
                [r.backing_cpu_us_per_request.get("postgres") for r in mine]
            )
        print(f"\nwrk -c{args.wrk_connections}, a year of days of a random user:")
        pr.print_table(throughput)
        throughput_ratio = round(throughput[OURS]["rps_median"] / throughput[PEER]["rps_median"], 3)
        print(f"ours / peer, median req/s: {throughput_ratio:.2f}x")
        throughput["ours_vs_peer_rps_median"] = throughput_ratio
    ingest = measured["ingest"]
    rows = ingest["runs"]
    per_second = [r.wrk.requests_per_second * args.batch for r in rows]
    ingest_summary = {
        "batch": args.batch,
        "connections": args.ingest_connections,
        "events_per_second_median": round(statistics.median(per_second), 1),
        "events_per_second_best": round(max(per_second), 1),
        "batch_p50_ms_median": _median([r.wrk.p50_ms for r in rows]),
        "batch_p99_ms_median": _median([r.wrk.p99_ms for r in rows]),
        "server_cpu_us_per_event_median": _median(
            [r.wrk.cpu_us_per_request / args.batch for r in rows]
        ),
        "postgres_cpu_us_per_event_median": _median(
            [r.backing_cpu_us_per_request.get("postgres", 0) / args.batch for r in rows]
        ),
        "redis_cpu_us_per_event_median": _median(
            [r.backing_cpu_us_per_request.get("redis", 0) / args.batch for r in rows]
        ),
        "errors": sum(r.wrk.errors for r in rows),
        "events_stored": ingest["events_stored"],
        "rollups_add_up": ingest["rollups_add_up"],
    }
    print(
        f"\n(b) ingest, batches of {args.batch} over {args.ingest_connections} connections: "
        f"{ingest_summary['events_per_second_median']:,.0f} events/s (median; best "
        f"{ingest_summary['events_per_second_best']:,.0f}), server CPU "
        f"{ingest_summary['server_cpu_us_per_event_median']:.1f} us/event, PostgreSQL "
        f"{ingest_summary['postgres_cpu_us_per_event_median']:.1f} us/event (the bench "
        "database's backends, WAL writer, checkpointer), batch p50 "
        f"{ingest_summary['batch_p50_ms_median']:.0f} ms, p99 "
        f"{ingest_summary['batch_p99_ms_median']:.0f} ms"
    )
    return {
        "latency": summary,
        "ratios_peer_over_ours": ratio,
        "target_p50_ms": TARGET_P50_MS,
        "target_p50_met": met,
        "throughput": throughput,
        "ingest": ingest_summary,
    }


# -------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="200,000 events of 1,000 users, 2 rounds of 5 s"
    )
    parser.add_argument("--events", type=int, help="calorie events (10000000; quick 200000)")
    parser.add_argument("--users", type=int, help="users (10000; quick 1000)")
    parser.add_argument("--days", type=int, default=365, help="days of events, to yesterday (365)")
    parser.add_argument("--rounds", type=int, help="measured rounds (3; quick 2)")
    parser.add_argument("--duration", type=float, help="seconds per latency run (15; quick 5)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target (5; quick 2)")
    parser.add_argument(
        "--wrk-duration",
        type=float,
        help="seconds of wrk per target and round (10; quick 5; 0: none)",
    )
    parser.add_argument("--wrk-connections", type=int, default=8, help="wrk connections, reads (8)")
    parser.add_argument(
        "--ingest-duration", type=float, help="seconds per ingest run (15; quick 5)"
    )
    parser.add_argument(
        "--ingest-connections", type=int, default=32, help="ingest connections (32)"
    )
    parser.add_argument("--batch", type=int, default=100, help="events per ingest request (100)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument(
        "--check-users", type=int, default=12, help="users whose rollups are checked"
    )
    parser.add_argument("--py-spy", metavar="PATH", help="also sample our server with py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument(
        "--database", help="measure a database kept by --keep (no load; it is kept again)"
    )
    parser.add_argument("--seed", type=int, default=20_26, help="data seed")
    parser.add_argument("--pg-host", default=os.environ.get("BENCH_PG_HOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("BENCH_PG_PORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("BENCH_PG_USER", "postgres"))
    args = parser.parse_args(argv)
    quick = args.quick
    args.events = args.events or (200_000 if quick else 10_000_000)
    args.users = args.users or (1_000 if quick else 10_000)
    args.rounds = args.rounds or (2 if quick else 3)
    args.duration = args.duration or (5.0 if quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if quick else 5.0)
    args.wrk_duration = (
        args.wrk_duration if args.wrk_duration is not None else (5.0 if quick else 10.0)
    )
    args.ingest_duration = args.ingest_duration or (5.0 if quick else 15.0)
    if args.users < len(ZONES) or args.events < args.users or args.days < 7:
        parser.error(f"needs {len(ZONES)}+ users, an event per user and 7+ days")
    if not 1 <= args.batch <= 1000:
        parser.error("--batch: 1 to 1000 (the API's batch limit)")
    if args.py_spy and not shutil.which(args.py_spy):
        parser.error(f"py-spy not found at {args.py_spy!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("ERROR: `wrk` is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    args.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    db_name = args.database or f"ps_bench_nutrition_{uuid.uuid4().hex[:12]}"
    dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db_name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    servers: list[pr.Server] = []
    created = False
    steps = Steps()
    with pr.terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="ps-bench-nutri-") as tmp:
        try:
            if args.database:
                print(f"database {db_name}: kept from an earlier run, not loaded")
                users = asyncio.run(existing_users(dsn, args))
            else:
                asyncio.run(pr._admin(args, f'CREATE DATABASE "{db_name}"'))
                created = True
                print(
                    f"database {db_name}: migrating, loading {args.users:,} users and "
                    f"{args.events:,} calorie events over {args.days} days..."
                )
                started = time.monotonic()
                with steps.step("migrate (profilestore's migrations)"):
                    runner.upgrade(url)
                users = asyncio.run(load(dsn, args, steps))
                steps.seconds["total"] = round(time.monotonic() - started, 1)
                print(f"  loaded in {steps.seconds['total']:.1f}s")
            measured = benchmark(args, wrk, users, Path(tmp), servers, dsn, url)
            figures = report(args, measured)
            errors = (
                sum(r.errors for r in measured["latency"])
                + sum(r.wrk.errors for r in measured["throughput"])
                + figures["ingest"]["errors"]
            )
            if errors:
                print(
                    f"\nINVALID: {errors} answers outside 2xx or socket errors while measuring:\n"
                    f"{pr._tail(servers[0].log_path, 15)}",
                    file=sys.stderr,
                )
            pr.RESULTS_DIR.mkdir(exist_ok=True)
            out = pr.RESULTS_DIR / f"nutrition-{args.stamp}.json"
            document = {
                "benchmark": "nutrition",
                "timestamp": args.stamp,
                "valid": not errors,
                "git_commit": pr._git_commit(),
                "git_worktree_changes": mh.worktree_changes(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "loadavg_before": [round(x, 2) for x in measured["load_before"]],
                    "python": sys.version.split()[0],
                },
                "config": {
                    "events": args.events,
                    "users": len(users.ids),
                    "year": [users.first_day.isoformat(), users.last_day.isoformat()],
                    "load_seconds": steps.seconds,
                    "loaded": steps.info,
                    "wrk": pr.wrk_version(wrk),
                    "rounds": args.rounds,
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "wrk_duration_s": args.wrk_duration,
                    "wrk_connections": args.wrk_connections,
                    "ingest_duration_s": args.ingest_duration,
                    "ingest_connections": args.ingest_connections,
                    "batch": args.batch,
                    "server_workers": args.workers,
                    "database_pool_per_process": measured["pool"],
                    "database": db_name,
                },
                **figures,
                "checks": measured["checks"],
                "explain": measured["explain"],
                "latency_runs": [asdict(r) for r in measured["latency"]],
                "throughput_runs": [
                    {k: v for k, v in asdict(r.wrk).items() if k != "raw"}
                    | {"backing_cpu_us_per_request": r.backing_cpu_us_per_request}
                    for r in measured["throughput"]
                ],
                "ingest_runs": [
                    {k: v for k, v in asdict(r.wrk).items() if k != "raw"}
                    | {"backing_cpu_us_per_request": r.backing_cpu_us_per_request}
                    for r in measured["ingest"]["runs"]
                ],
                "py_spy": measured["py_spy"],
            }
            out.write_text(json.dumps(document, indent=2, default=str) + "\n")
            print(f"\nwrote {out.relative_to(pr.ROOT)}")
            return 0 if not errors else 1
        except KeyboardInterrupt:
            print("interrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                pr.stop(server)
            if created and not args.keep:
                asyncio.run(pr._admin(args, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                print(f"dropped database {db_name}")
            elif created or args.database:
                print(f"kept database {db_name} (--database {db_name} measures it again)")


if __name__ == "__main__":
    sys.exit(main())
