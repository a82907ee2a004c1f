"""Helpers shared by the tests: databases per backend, tokens, clients."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from profilestore.app import create_app
from profilestore.migrations import runner
from profilestore.settings import Settings

PG_HOST = os.environ.get("PROFILESTORE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PROFILESTORE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("PROFILESTORE_TEST_PG_USER", "postgres")
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
REQUIRE_SERVICES = os.environ.get("PROFILESTORE_REQUIRE_SERVICES") == "1"


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> bool:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (PROFILESTORE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@contextmanager
def postgres_database(migrate: bool = True) -> Iterator[str]:
    """A uniquely named PostgreSQL database, migrated to head, dropped afterwards."""
    if not postgres_available():
        skip_or_fail("PostgreSQL is not reachable")
    name = f"ps_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = pg_url(name)
        if migrate:
            runner.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def token(
    sub: str | uuid.UUID,
    *,
    roles: list[str] | None = None,
    secret: str = TEST_SECRET,
    algorithm: str = "HS256",
    ttl: int = 300,
    **claims: Any,
) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": str(sub), "iat": now, "exp": now + ttl, **claims}
    if roles:
        body["role"] = roles
    return jwt.encode(body, secret, algorithm=algorithm)


def bearer(sub: str | uuid.UUID, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **kwargs)}"}


# Made once at import and used for the whole run: they must outlive a slow suite.
ADMIN = bearer("admin-tool", roles=["admin"], ttl=24 * 3600)
SERVICE = bearer("chat-service", roles=["service"], ttl=24 * 3600)


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of an app built from ``settings`` (closed and disposed afterwards)."""
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await application.state.verifier.aclose()
        await application.state.db.dispose()


async def clear_of_minute_edge(margin: float = 5.0) -> None:
    """Wait until the current minute has at least ``margin`` seconds left, so that a test
    counting against a per-minute quota does not see the window roll over half-way."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.1)
