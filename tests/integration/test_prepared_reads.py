"""Prepared reads (``platform.reads``): the asyncpg driver path gives exactly what SQLAlchemy
gives, on both backends, and a lost connection is a clean 503-class error, then recovers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import bindparam

from profilestore.domains.profiles import service
from profilestore.domains.profiles.models import Profile
from profilestore.domains.profiles.service import visible_reads
from profilestore.domains.social.models import Block
from profilestore.platform.db import Database, _driver_arguments
from profilestore.platform.reads import PreparedRead
from profilestore.settings import Settings

NOW = dt.datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=dt.UTC)


@asynccontextmanager
async def open_database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        yield database
        async with database.engine.begin() as conn:
            await conn.execute(Block.__table__.delete())
            await conn.execute(Profile.__table__.delete())
    finally:
        await database.dispose()


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(database_url, tmp_path) as database:
        yield database


async def add_profiles(db: Database) -> list[uuid.UUID]:
    """Profiles covering every column type, with and without optional values."""
    full, bare = uuid.uuid4(), uuid.uuid4()
    async with db.write_session() as session:
        session.add(
            Profile(
                user_id=full,
                username=f"full{full.hex[:8]}",
                display_name="Zoë «quoted» \u2603",
                bio="line one\nline two",
                avatar_url="https://cdn.example.com/a.png",
                locale="de-DE",
                timezone="Europe/Berlin",
                preferences={"theme": "dark", "n": 2**62, "x": 1.5, "nested": {"list": [1, None]}},
                created_at=NOW,
                updated_at=NOW + dt.timedelta(seconds=1),
                version=7,
            )
        )
        session.add(
            Profile(
                user_id=bare,
                username=f"bare{bare.hex[:8]}",
                preferences={},
                created_at=NOW,
                updated_at=NOW,
                version=1,
            )
        )
        await session.commit()
    return [full, bare]


async def test_database_and_session_paths_give_the_same_rows(db: Database) -> None:
    ids = await add_profiles(db)
    for user_id in ids:
        direct = await service.PROFILES.get(db, user_id)
        async with db.read_session() as session:
            through_sqlalchemy = await service.PROFILES.get(session, user_id)
        assert direct is not None
        assert direct == through_sqlalchemy
        assert type(direct["user_id"]) is uuid.UUID or isinstance(direct["user_id"], uuid.UUID)
        assert direct["created_at"].tzinfo is not None
    full = await service.PROFILES.get(db, ids[0])
    assert full is not None
    assert full["preferences"]["n"] == 2**62 and full["preferences"]["nested"] == {
        "list": [1, None]
    }
    assert await service.PROFILES.get(db, uuid.uuid4()) is None


async def test_many_rows_and_expanding_parameters(db: Database) -> None:
    ids = await add_profiles(db)
    asked = [ids[1], uuid.uuid4(), ids[0], ids[1]]
    rows = await service.PROFILES.get_many(db, asked)
    assert [row["user_id"] for row in rows] == [ids[1], ids[0]]
    everyone = PreparedRead(service.PROFILES.by_id.statement.where(Profile.version >= 1))
    assert await everyone.all(db, user_id=ids[0]) == [await service.PROFILES.get(db, ids[0])]
    found = await service.PROFILES.find_by_username(db, f"FULL{ids[0].hex[:8]}")
    assert found is not None and found["user_id"] == ids[0]


async def test_visibility_filter_binds_the_viewer(db: Database) -> None:
    blocker, viewer = await add_profiles(db)
    assert await visible_reads().get(db, blocker, viewer=viewer) is not None
    async with db.write_session() as session:
        session.add(Block(user_id=blocker, blocked_user_id=viewer, created_at=NOW))
        await session.commit()
    assert await visible_reads().get(db, blocker, viewer=viewer) is None
    assert await visible_reads().get(db, blocker, viewer=uuid.uuid4()) is not None
    assert await visible_reads().get_many(db, [blocker, viewer], viewer=viewer) == [
        {**(await service.PROFILES.get(db, viewer) or {}), "viewer_is_contact": False}
    ]


async def test_a_missing_value_is_refused_before_any_query(db: Database) -> None:
    read = PreparedRead(
        service.PROFILES.by_id.statement.where(Profile.version == bindparam("version"))
    )
    with pytest.raises(Exception, match="version"):  # KeyError (driver), StatementError (Core)
        await read.one(db, user_id=uuid.uuid4())
    assert await read.one(db, user_id=uuid.uuid4(), version=1) is None


async def test_a_lost_connection_is_invalidated_and_the_next_read_recovers(
    postgres_url: str, tmp_path: Path
) -> None:
    """The driver path is PostgreSQL's: kill the server process behind a pooled connection."""
    async with open_database(postgres_url, tmp_path) as db:
        await _lose_a_connection_then_recover(db, postgres_url)


async def _lose_a_connection_then_recover(db: Database, database_url: str) -> None:
    user_id = (await add_profiles(db))[0]
    assert await service.PROFILES.get(db, user_id) is not None
    pooled = await db.read_engine.raw_connection()
    driver = pooled.driver_connection
    assert driver is not None
    backend_pid = driver.get_server_pid()
    pooled.close()
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", backend_pid)
    finally:
        await admin.close()
    # The read finds its connection dead, and is retried once on a fresh one.
    assert await service.PROFILES.get(db, user_id) is not None
    assert await service.PROFILES.get(db, user_id) is not None


async def test_statement_caches_can_be_turned_off_for_pgbouncer(
    postgres_url: str, tmp_path: Path
) -> None:
    url = f"{postgres_url}?prepared_statement_cache_size=0&statement_cache_size=0"
    async with open_database(url, tmp_path) as db:
        user_id = (await add_profiles(db))[0]
        assert (await service.PROFILES.get(db, user_id)) is not None
        async with db.read_session() as session:
            assert (await service.PROFILES.get(session, user_id)) is not None
        pooled = await db.read_engine.raw_connection()
        try:
            assert pooled.driver_connection._stmt_cache.get_max_size() == 0
        finally:
            pooled.close()


def test_the_statement_cache_setting_keeps_the_rest_of_the_url() -> None:
    url, driver = _driver_arguments(
        "postgresql+asyncpg://u:p%40ss@h:5433/db?statement_cache_size=0&ssl=disable"
    )
    assert driver == {"statement_cache_size": 0}
    assert url == "postgresql+asyncpg://u:p%40ss@h:5433/db?ssl=disable"
    plain = "postgresql+asyncpg://u@h/db"
    assert _driver_arguments(plain) == (plain, {})
