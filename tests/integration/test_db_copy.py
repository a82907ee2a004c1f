"""`profilestore db copy` and `db verify`: SQLite → PostgreSQL and PostgreSQL → PostgreSQL of a
database with rows in every table, the content equal afterwards; a copy SIGKILLed halfway and
resumed; a corrupted target named by the verification; sequences that go on after the copy."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from rich.console import Console
from sqlalchemy import JSON, Table, func, insert, null, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.types import TypeDecorator
from typer.testing import CliRunner

from profilestore import cli
from profilestore.datacopy.database import tables_in
from profilestore.datacopy.progress import ProgressBar
from profilestore.domains.movement.public import SAMPLE_CATALOGUE
from profilestore.maintenance import load_programs
from profilestore.migrations import runner
from profilestore.platform.db import Database
from profilestore.settings import Settings
from tests.api.test_addresses import address
from tests.api.test_hub import fill_every_domain
from tests.api.test_media_viewers import add_viewer
from tests.api.test_social import block_url, make_user
from tests.serving import BIN
from tests.support import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    TEST_SECRET,
    bearer,
    client_for,
    postgres_database,
)

pytestmark = pytest.mark.postgres

BULK_PROFILES = 1500
AT = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
PREFERENCES = {"theme": "dark", "nested": {"z": [1.5, 2.0, 1e20], "a": None}, "text": "éè ✓"}


def tables() -> list[Table]:
    return runner.target_metadata().sorted_tables


async def _fill_over_http(client: httpx.AsyncClient) -> list[uuid.UUID]:
    users = []
    for _ in range(2):
        user = await make_user(client)
        await fill_every_domain(client, user)
        me = bearer(user)
        other = await make_user(client)
        answers = [
            await client.put(block_url(user, other), json={"reason": "spam"}, headers=me),
            await client.post(f"/v1/profiles/{user}/addresses", json=address(), headers=me),
            await client.put(f"/v1/profiles/{user}/ratings/v9", json={"stars": 4}, headers=me),
            await client.post(
                f"/v1/profiles/{user}/body/weights",
                json={"day": "2026-01-02", "weight_kg": 71.5},
                headers={**me, "Idempotency-Key": f"weight-{user}"},  # idempotency_keys
            ),
        ]
        assert all(answer.status_code == 201 for answer in answers), [a.text for a in answers]
        await add_viewer(client, user, "Kid")
        users.append(user)
    return users


async def _insert_directly(conn: AsyncConnection, user: uuid.UUID) -> None:
    """Rows no route of an all-in-one process writes, SQL NULL and JSON null side by side in a
    JSON column, and enough profiles to interrupt a copy halfway."""
    named = runner.target_metadata().tables
    stamps = {"created_at": AT, "updated_at": AT}
    await conn.execute(
        insert(named["owners"]), [{"user_id": user, "timezone": None, **stamps, "version": 1}]
    )
    await conn.execute(
        insert(named["relay_leases"]), [{"name": "relay", "holder": "pid-1", "expires_at": AT}]
    )
    await conn.execute(
        insert(named["nutrition_targets"]),
        [{"user_id": user, "effective_at": AT, "kcal": 2100.5, "source": "goal", "clamped": False}],
    )
    calories = {"user_id": user, "kind": "consumed", "kcal": 10.25, "at": AT, **stamps}
    await conn.execute(
        insert(named["nutrition_calories"]),
        [
            {**calories, "event_id": uuid.uuid4(), "metadata": null()},
            {**calories, "event_id": uuid.uuid4(), "metadata": None},  # JSON null
            {**calories, "event_id": uuid.uuid4(), "metadata": PREFERENCES},
        ],
    )
    profile = {"preferences": PREFERENCES, "bio": "bulk ✓", "version": 1, **stamps}
    await conn.execute(
        insert(named["profiles"]),
        [
            {**profile, "user_id": uuid.uuid4(), "username": f"bulk{index:05d}"}
            for index in range(BULK_PROFILES)
        ],
    )


SYNTHETIC_BY_TYPE: dict[type, Any] = {
    uuid.UUID: None,  # a new one per row
    str: "synthetic ✓",
    int: 7,
    float: 1.25,
    bool: True,
    dt.datetime: AT,
    dt.date: AT.date(),
    bytes: b"\x00\xff",
}


def synthetic_row(table: Table, user: uuid.UUID) -> dict[str, Any]:
    """A row of plausible values for a table nothing above fills (one added after this test)."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column is table.autoincrement_column:
            continue
        if column.name == "user_id" or column.foreign_keys:
            row[column.key] = user
        elif isinstance(column.type, JSON):
            row[column.key] = {"synthetic": [1, 2.0]}
        else:
            kind = column.type
            kind = kind.impl_instance if isinstance(kind, TypeDecorator) else kind
            value = SYNTHETIC_BY_TYPE[kind.python_type]
            row[column.key] = uuid.uuid4() if value is None else value
            if isinstance(value, str) and getattr(column.type, "length", None):
                row[column.key] = value[: column.type.length]
    return row


async def _fill_empty_tables(conn: AsyncConnection, user: uuid.UUID) -> None:
    for table in tables():
        if not (await conn.execute(select(func.count()).select_from(table))).scalar_one():
            await conn.execute(insert(table), [synthetic_row(table, user)])


async def fill(url: str, data_dir: Path) -> None:
    settings = Settings(
        database_url=url, jwt_secret=TEST_SECRET, data_dir=data_dir, rate_limit_enabled=False
    )
    async with client_for(settings) as client:
        users = await _fill_over_http(client)
    database = Database(settings)
    try:
        await load_programs(settings, SAMPLE_CATALOGUE, echo=lambda _line: None, db=database)
        async with database.engine.begin() as conn:
            await _insert_directly(conn, users[0])
            await _fill_empty_tables(conn, users[0])
    finally:
        await database.dispose()


async def contents(url: str) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every table's rows by primary key (compared as Python values: key order and 2.0 == 2
    do not matter; anything else does), and how many JSON values are SQL NULL."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = {}
            for table in await tables_in(conn):
                rows = (await conn.execute(select(table))).mappings().all()
                key = [column.name for column in table.primary_key.columns]
                found[table.name] = {tuple(row[k] for k in key): dict(row) for row in rows}
            if "nutrition_calories" in found:
                nulls = text("SELECT count(*) FROM nutrition_calories WHERE metadata IS NULL")
                found["sql null metadata"] = {(): {"rows": (await conn.execute(nulls)).scalar()}}
            return found
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("copy-source")
    url = f"sqlite+aiosqlite:///{folder / 'source.db'}"
    runner.upgrade(url)
    asyncio.run(fill(url, folder))
    return url


@pytest.fixture(scope="module")
def postgres_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_database() as url:
        asyncio.run(fill(url, tmp_path_factory.mktemp("copy-source-pg")))
        yield url


@pytest.fixture(scope="module")
def source_contents(sqlite_source: str) -> dict[str, Any]:
    return asyncio.run(contents(sqlite_source))


@pytest.fixture(params=["sqlite", "postgres"])
def source(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_source")
    return url


@pytest.fixture
def target() -> Iterator[str]:
    with postgres_database(migrate=False) as url:
        yield url


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def run_cli(*arguments: str) -> Any:
    return CliRunner().invoke(cli.app, ["db", *arguments])


def copy(source: str, target: str, *options: str) -> Any:
    return run_cli("copy", "--from", source, "--to", target, *options)


def test_the_copy_equals_the_source_and_verifies(source: str, target: str) -> None:
    expected = asyncio.run(contents(source))
    assert [table.name for table in tables() if not expected[table.name]] == []
    assert expected["sql null metadata"][()]["rows"] == 1
    result = copy(source, target)
    assert result.exit_code == 0, result.output
    profiles = len(expected["profiles"])
    assert f"profiles: {profiles} rows in" in result.output  # a line per table off a terminal
    assert "rows/s" in result.output
    assert f"verified: the {len(tables())} tables are equal" in result.output
    assert runner.revisions_at(target) == runner.revisions_at(source)
    assert asyncio.run(contents(target)) == expected
    again = run_cli("verify", "--from", source, "--to", target)
    assert again.exit_code == 0 and "verified" in again.output


def test_a_database_of_some_domains_gives_a_target_of_the_same_domains(
    tmp_path: Path, target: str
) -> None:
    source = f"sqlite+aiosqlite:///{tmp_path / 'movement.db'}"
    runner.upgrade(source, domains=["movement"])
    named = runner.target_metadata().tables

    async def fill_movement() -> set[str]:
        engine = create_async_engine(source)
        try:
            async with engine.begin() as conn:
                for name in ("movement_profiles", "movement_programs", "owners"):
                    await conn.execute(
                        insert(named[name]), [synthetic_row(named[name], uuid.uuid4())]
                    )
                return {table.name for table in await tables_in(conn)}
        finally:
            await engine.dispose()

    held = asyncio.run(fill_movement())
    assert "profiles" not in held and "movement_profiles" in held
    result = copy(source, target, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"verified: the {len(held)} tables are equal" in result.output
    assert runner.revisions_at(target) == runner.revisions_at(source)
    assert set(asyncio.run(contents(target))) == held


def test_a_corrupted_target_fails_verification_naming_the_tables(
    sqlite_source: str, target: str
) -> None:
    assert copy(sqlite_source, target, "--quiet").exit_code == 0

    async def corrupt() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(target))
        try:
            await conn.execute("UPDATE profiles SET bio = 'tampered' WHERE username = 'bulk00007'")
            await conn.execute("DELETE FROM contacts WHERE ctid = (SELECT min(ctid) FROM contacts)")
            await conn.execute(
                "INSERT INTO relay_leases (name, holder, expires_at) VALUES ('x', 'y', now())"
            )
        finally:
            await conn.close()

    asyncio.run(corrupt())
    result = run_cli("verify", "--from", sqlite_source, "--to", target)
    assert result.exit_code == 1, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "same row count, different content" in lines["profiles"]
    assert "2 rows in the source, 1 here" in lines["contacts"]
    assert "1 rows in the source, 2 here" in lines["relay_leases"]
    assert lines["addresses"].endswith("ok") and lines["outbox"].endswith("ok")
    assert "verification FAILED: 3 tables differ" in result.output


def test_sequences_go_on_after_the_copy(source: str, target: str) -> None:
    assert copy(source, target, "--quiet").exit_code == 0

    async def next_positions() -> tuple[int, int]:
        engine = create_async_engine(target)
        outbox = runner.target_metadata().tables["outbox"]
        event = {
            "id": uuid.uuid4(),
            "aggregatetype": "profile",
            "aggregateid": "x",
            "type": "profilestore.test.Inserted",
            "payload": {},
            "created_at": AT,
        }
        try:
            async with engine.begin() as conn:
                copied = (await conn.execute(select(func.max(outbox.c.position)))).scalar_one()
                added = await conn.execute(
                    insert(outbox).values(event).returning(outbox.c.position)
                )
                return copied, added.scalar_one()
        finally:
            await engine.dispose()

    copied, added = asyncio.run(next_positions())
    assert added == copied + 1


def test_a_non_empty_target_is_refused_unless_it_is_this_copy_resumed(
    sqlite_source: str, target: str
) -> None:
    assert copy(sqlite_source, target, "--quiet").exit_code == 0
    refused = copy(sqlite_source, target)
    assert refused.exit_code == 2 and "already holds" in refused.output
    resumed = copy(sqlite_source, target, "--resume", "--quiet")
    assert resumed.exit_code == 0 and "verified" in resumed.output  # nothing left to copy

    async def delete_a_middle_profile() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(target))
        try:
            await conn.execute("DELETE FROM profiles WHERE username = 'bulk00100'")
        finally:
            await conn.close()

    asyncio.run(delete_a_middle_profile())
    not_a_prefix = copy(sqlite_source, target, "--resume")
    assert not_a_prefix.exit_code == 2
    assert "profiles is not the first" in not_a_prefix.output


def test_a_refused_target_is_left_as_it_was(sqlite_source: str, tmp_path: Path) -> None:
    """Refused before the target is migrated: its schema and rows are untouched."""
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    runner.upgrade(target, domains=["movement"])
    programs = runner.target_metadata().tables["movement_programs"]

    async def add_a_programme() -> None:
        engine = create_async_engine(target)
        try:
            async with engine.begin() as conn:
                await conn.execute(insert(programs), [synthetic_row(programs, uuid.uuid4())])
        finally:
            await engine.dispose()

    asyncio.run(add_a_programme())
    before = runner.revisions_at(target)
    result = copy(sqlite_source, target)
    assert result.exit_code == 2
    assert "movement_programs already holds 1 rows" in result.output
    assert runner.revisions_at(target) == before


@pytest.mark.parametrize(
    ("source_url", "message"),
    [
        ("sqlite+aiosqlite:///{missing}", "no SQLite database"),
        ("mysql+pymysql://u@h/db", "the driver must be one of"),
        ("not a url", "not a database URL"),
        ("{target}", "name the same database"),
    ],
)
def test_bad_urls_are_refused(tmp_path: Path, source_url: str, message: str) -> None:
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    url = source_url.format(missing=tmp_path / "missing.db", target=target)
    result = copy(url, target)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "target.db").exists()


def test_an_unreachable_target_stops_with_exit_1(sqlite_source: str) -> None:
    missing = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/ps_missing_{uuid.uuid4().hex}"
    for result in (
        copy(sqlite_source, missing),
        run_cli("verify", "--from", sqlite_source, "--to", missing),
    ):
        assert result.exit_code == 1, result.output
        assert "stopped:" in result.output and f"{missing.rsplit('/', 1)[1]}" in result.output


@pytest.mark.slow
def test_a_killed_copy_resumes_and_ends_equal(
    sqlite_source: str, source_contents: dict[str, Any], target: str
) -> None:
    command = [str(BIN / "profilestore"), "db", "copy", "--from", sqlite_source, "--to", target]
    profiles = len(source_contents["profiles"])
    process = subprocess.Popen(
        [*command, "--batch-size", "3", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    copied = asyncio.run(_kill_when_profiles_are_half_in(process, target, profiles // 2))
    assert profiles // 2 <= copied < profiles, copied
    resumed = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{copied} were already there" in resumed.stderr
    assert "verified" in resumed.stdout
    assert asyncio.run(contents(target)) == source_contents


async def _kill_when_profiles_are_half_in(
    process: subprocess.Popen[bytes], target: str, half: int
) -> int:
    """SIGKILL the copy once ``half`` profiles are in the target; the count then."""
    conn = await asyncpg.connect(asyncpg_dsn(target))
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                copied = await conn.fetchval("SELECT count(*) FROM profiles")
            except asyncpg.UndefinedTableError:  # not migrated yet
                copied = 0
            if copied >= half:
                process.send_signal(signal.SIGKILL)
                process.wait()
                break
            await asyncio.sleep(0.005)
        assert process.returncode == -signal.SIGKILL, "the copy ended before it could be killed"
        return int(await conn.fetchval("SELECT count(*) FROM profiles"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        await conn.close()


def test_the_progress_bar_shows_rows_and_rows_per_second() -> None:
    output = io.StringIO()
    bar = ProgressBar(Console(file=output, force_terminal=True, color_system=None, width=120))
    with bar.shown():
        bar.table_started("profiles", 10, 4)
        bar.rows_copied("profiles", 3)
        time.sleep(0.05)
        bar.rows_copied("profiles", 3)
        bar.table_finished("profiles")
    shown = output.getvalue()
    assert "profiles" in shown and "10/10" in shown
    assert re.search(r" [1-9][\d,]* rows/s", shown), shown
