"""``profilestore import calorie-balance`` (target on both databases, source on PostgreSQL):
a legacy database built from the service's schema and filled with generated users and events
(``calorie_balance_data``) is imported through the services: usernames, body metrics, goals
with their history and targets, weights and calorie events with their rollups, in the legacy
timestamps' zone; every row that is not imported is reported; a second run adds nothing; the
verification catches a target that differs from the source."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from profilestore import cli
from profilestore.domains.nutrition.formulas import age_on
from profilestore.domains.nutrition.models import (
    Body,
    CalorieEvent,
    DayRollup,
    Eating,
    Goal,
    TargetChange,
    WeightEntry,
)
from profilestore.domains.profiles.models import Profile
from profilestore.migrations.runner import target_metadata
from profilestore.platform.db import Database
from profilestore.platform.events.outbox import OutboxRow
from profilestore.settings import Settings
from tests.integration.calorie_balance_data import (
    LUCA_ACTIVE_START,
    MARCO_GOAL_STARTS,
    MARCO_PROFILE_UPDATED,
    ZONE,
    LegacyData,
    build,
    fill,
)
from tests.support import postgres_database

ROME = ZoneInfo(ZONE)
SKIPPED_LINES = 16
"""Rows or values of ``build``'s data the report lists: 3 users, 8 of Marco's events, 3 of
Luca's body values and 2 values of his older goal."""
IMPORTED_USERS = 6


@pytest.fixture(scope="module")
def legacy() -> Iterator[tuple[str, LegacyData]]:
    """The legacy database (read only: every test imports from the same one)."""
    data = build(seed=20250907)
    with postgres_database(migrate=False) as url:
        asyncio.run(fill(url, data))
        yield url.replace("postgresql+asyncpg://", "postgresql://"), data


async def run(settings: Settings, *args: str, **env: str) -> Result:
    environment = {
        "PROFILESTORE_DATABASE_URL": settings.effective_database_url,
        "PROFILESTORE_DATA_DIR": str(settings.data_dir),
        **env,
    }
    command = ["import", "calorie-balance", *args]
    return await asyncio.to_thread(CliRunner().invoke, cli.app, command, env=environment)


def by_name(data: LegacyData) -> dict[str, uuid.UUID]:
    return {e.username: user for user, e in data.expected.items() if e.username is not None}


def local(wall_clock: dt.datetime) -> dt.datetime:
    return wall_clock.replace(tzinfo=ROME).astimezone(dt.UTC)


async def test_the_import_brings_every_row_over_and_lists_the_rest(
    settings: Settings, legacy: tuple[str, LegacyData]
) -> None:
    url, data = legacy
    result = await run(settings, "--from", url, "--timezone", ZONE)
    assert result.exit_code == 3, result.output
    assert f"skipped {SKIPPED_LINES} rows or values:" in result.output
    assert all(str(row_id) in result.output for row_id in data.skipped)
    assert f"verification passed for {IMPORTED_USERS} users" in result.output
    assert "'marco_rossi': That username is already taken." in result.output
    assert "not imported by design: 1 metabolic profiles" in result.output

    database = Database(settings)
    try:
        async with database.read_session() as session:
            await _check_profiles(session, data)
            await _check_ledger(session, data)
            await _check_marco(session, by_name(data)["marco_rossi"], data)
            await _check_luca(session, by_name(data)["luca"], data)
            anna = await session.get(Body, by_name(data)["anna.b"])
            assert anna is not None and (anna.height_cm, anna.sex, anna.birth_date) == (None,) * 3
    finally:
        await database.dispose()


async def _check_profiles(session: Any, data: LegacyData) -> None:
    rows = (
        await session.execute(select(Profile.user_id, Profile.username, Profile.timezone))
    ).all()
    wanted = {(user, name) for name, user in by_name(data).items()}
    assert {(row.user_id, row.username) for row in rows} == wanted
    assert {row.timezone for row in rows} == {ZONE}


async def _check_ledger(session: Any, data: LegacyData) -> None:
    """Per user and kind, the imported amounts; per local day, the kcal consumed."""
    found: dict[uuid.UUID, dict[str, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    statement = select(CalorieEvent.user_id, CalorieEvent.kind, CalorieEvent.kcal)
    for user_id, kind, kcal in await session.execute(statement):
        found[user_id][kind].append(Decimal(str(kcal)).quantize(Decimal("0.01")))
    for user_id, expected in data.expected.items():
        wanted = {kind: sorted(amounts) for kind, amounts in expected.kcal.items()}
        assert {k: sorted(v) for k, v in found.get(user_id, {}).items()} == wanted
        days = select(DayRollup.day, DayRollup.consumed_mkcal).where(DayRollup.user_id == user_id)
        consumed = {day: mkcal for day, mkcal in await session.execute(days) if mkcal}
        wanted_days = {d: int(v * 1000) for d, v in expected.consumed_by_day.items() if v}
        assert consumed == wanted_days, user_id


async def _check_marco(session: Any, marco: uuid.UUID, data: LegacyData) -> None:
    body = await session.get(Body, marco)
    assert (body.height_cm, body.weight_kg, body.sex) == (181.5, 82.3, "male")
    assert body.activity_level == "moderately_active"
    assert age_on(body.birth_date, MARCO_PROFILE_UPDATED.date()) == 41
    goals = (
        await session.execute(select(Goal).where(Goal.user_id == marco).order_by(Goal.started_at))
    ).scalars()
    spans = [(goal.started_at, goal.ended_at) for goal in goals]
    starts = [local(start) for start in MARCO_GOAL_STARTS]
    assert spans == [(starts[0], starts[1]), (starts[1], starts[2]), (starts[2], None)]
    history = select(TargetChange.kcal).where(TargetChange.user_id == marco)
    assert list((await session.execute(history.order_by(TargetChange.effective_at))).scalars()) == [
        2200,
        2400,
        2100,
    ]
    assert (await session.get(Eating, marco)).calorie_target_override == 2100
    weights = select(WeightEntry.day, WeightEntry.weight_kg).where(WeightEntry.user_id == marco)
    logged = {day: Decimal(str(kg)) for day, kg in await session.execute(weights)}
    assert logged.items() >= data.expected[marco].weights.items()
    metadata = select(CalorieEvent.details).where(
        CalorieEvent.user_id == marco, CalorieEvent.at == local(dt.datetime(2024, 10, 25, 0, 10))
    )
    assert (await session.execute(metadata)).scalar_one()["source"] == "healthkit"
    kinds = Counter(
        (await session.execute(select(OutboxRow.type).where(OutboxRow.aggregateid == str(marco))))
        .scalars()
        .all()
    )
    assert kinds["profilestore.nutrition.GoalSet"] == kinds["profilestore.nutrition.CaloriesLogged"]
    assert kinds["profilestore.nutrition.GoalSet"] == 1
    assert kinds["profilestore.profiles.ProfileCreated"] == 1


async def _check_luca(session: Any, luca: uuid.UUID, data: LegacyData) -> None:
    body = await session.get(Body, luca)
    metrics = (body.height_cm, body.weight_kg, body.birth_date, body.sex, body.activity_level)
    assert metrics == (None, None, None, "other", "very_active")
    goals = list(
        (
            await session.execute(
                select(Goal).where(Goal.user_id == luca).order_by(Goal.started_at)
            )
        ).scalars()
    )
    assert [goal.ended_at is None for goal in goals] == [False, True]
    assert (goals[0].target_weight_kg, goals[0].target_date) == (None, dt.date(2020, 1, 1))
    assert goals[1].started_at == goals[0].ended_at == local(LUCA_ACTIVE_START)
    assert (await session.get(Eating, luca)).calorie_target_override == 2500


async def _row_counts(settings: Settings) -> dict[str, int]:
    database = Database(settings)
    try:
        async with database.read_session() as session:
            return {
                table.name: (
                    await session.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in target_metadata().sorted_tables
            }
    finally:
        await database.dispose()


async def test_a_second_run_adds_nothing_and_a_differing_target_fails_the_check(
    settings: Settings, legacy: tuple[str, LegacyData]
) -> None:
    url, data = legacy
    assert (await run(settings, "--from", url, "--timezone", ZONE)).exit_code == 3
    before = await _row_counts(settings)
    again = await run(settings, "--from", url, "--timezone", ZONE, "--allow-skips")
    assert again.exit_code == 0, again.output
    assert "added 0 profiles, 0 body metrics, 0 goals, 0 weights, 0 calorie events" in again.output
    assert await _row_counts(settings) == before

    marco = by_name(data)["marco_rossi"]
    database = Database(settings)
    try:
        async with database.write_session() as session, session.begin():
            one = select(CalorieEvent.event_id).where(CalorieEvent.user_id == marco).limit(1)
            event_id = (await session.execute(one)).scalar_one()
            await session.execute(
                update(CalorieEvent)
                .where(CalorieEvent.user_id == marco, CalorieEvent.event_id == event_id)
                .values(kcal=CalorieEvent.kcal + 1)
            )
    finally:
        await database.dispose()
    failed = await run(settings, "--from", url, "--timezone", ZONE, "--allow-skips")
    assert failed.exit_code == 1, failed.output
    assert "verification FAILED: 1 users differ" in failed.output
    line = next(row for row in failed.output.splitlines() if str(marco) in row and "differ" in row)
    assert line.endswith("events differ; rollups differ from the events")


async def test_what_the_import_refuses_before_writing(
    settings: Settings, legacy: tuple[str, LegacyData], postgres_url: str, tmp_path: Path
) -> None:
    url, _ = legacy
    refusals = {
        "is not an IANA time zone": await run(settings, "--from", url, "--timezone", "Mars/Base"),
        "must be a PostgreSQL database": await run(settings, "--from", "sqlite:///legacy.db"),
        "not a calorie-balance database: no table calorie_events": await run(
            settings, "--from", postgres_url
        ),
        "must serve the profiles and nutrition domains": await run(
            settings, "--from", url, PROFILESTORE_DOMAINS="nutrition"
        ),
        "is not migrated": await run(
            settings,
            "--from",
            url,
            PROFILESTORE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
        ),
    }
    for message, result in refusals.items():
        assert result.exit_code == 2, (message, result.output)
        assert message in result.output, result.output
    assert (await _row_counts(settings))["profiles"] == 0
