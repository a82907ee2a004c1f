"""Fixtures: every storage test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import text

from profilestore.app import create_app
from profilestore.migrations import runner
from profilestore.migrations.runner import target_metadata
from profilestore.platform.db import Database
from profilestore.settings import Settings
from tests.serving import free_port
from tests.support import TEST_SECRET, postgres_database, skip_or_fail


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "profilestore.db"
    url = f"sqlite+aiosqlite:///{path}"
    runner.upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database of each backend (emptied after each test)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def settings(database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings of a test's app. Apps built from them (the ``app`` fixture, or
    ``tests.support.client_for``) share the worker's database, emptied after the test."""
    # Rate limits are off here (a test sends many requests as one user, from one address);
    # tests/security/test_rate_limits.py turns them on.
    settings = Settings(
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        data_dir=tmp_path,
        rate_limit_enabled=False,
    )
    yield settings
    database = Database(settings)
    try:
        await _empty_tables(database)
    finally:
        await database.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.verifier.aclose()
    await application.state.db.dispose()


async def _empty_tables(database: Database) -> None:
    async with database.engine.begin() as conn:
        for table in reversed(target_metadata().sorted_tables):
            await conn.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A redis-server this test owns (to hang or kill): (process, port)."""
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        if probe.stdout.strip() == "PONG":
            break
        time.sleep(0.05)
    try:
        yield server, port
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGCONT)
            server.kill()
        server.wait()


SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the shared Redis (its keys deleted afterwards)."""
    prefix = f"pstest:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        skip_or_fail("Redis is not reachable")
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()
