"""Engines, the declarative base, and request-scoped sessions.

Two views of one connection pool:
- ``write``: a normal transaction (on SQLite ``BEGIN IMMEDIATE``, so writers queue instead of
  failing on lock upgrade). The request's unit of work commits it once.
- ``read``: autocommit, so a single-statement read is one database round trip (no BEGIN/COMMIT);
  with row-level security (``PROFILESTORE_DATABASE_ROLE``) a transaction that begins with the
  caller's identity (``platform.rls``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from profilestore.platform import rls
from profilestore.platform.batching import ReadBatcher
from profilestore.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is dt.UTC:
            return value  # asyncpg's timestamptz: already UTC
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Database:
    """The process's engines. Created once per app; disposed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        url = settings.effective_database_url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgresql = url.startswith("postgresql+asyncpg")
        self.timeout_seconds = settings.database_timeout_seconds
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(
                url, connect_args={"timeout": settings.database_timeout_seconds}
            )
            _configure_sqlite(self.engine)
        else:
            url, driver_args = _driver_arguments(url)
            self.engine = create_async_engine(
                url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
                pool_timeout=settings.database_timeout_seconds,
                connect_args={
                    "timeout": settings.database_timeout_seconds,
                    **driver_args,
                    **rls.connect_arguments(settings.database_role if self.is_postgresql else None),
                },
            )
        self.row_security = self.is_postgresql and settings.database_role is not None
        """Running as a role the policies restrict: every transaction begins with the caller's
        identity (``platform.rls``), and reads are transactions too."""
        self.read_engine = (
            self.engine
            if self.row_security
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.read_slots = asyncio.Semaphore(
            settings.database_pool_size + settings.database_max_overflow
        )
        """Hot reads wait here, first come first served, rather than in the pool's queue, where
        a newcomer can take a returned connection before a waiter and starve it (the p99 of a
        read with more requests in flight than connections: bench/README.md)."""
        self._batchers: dict[str, ReadBatcher[Any, Any]] = {}

    def batcher(
        self, name: str, load_many: Callable[[list[Any]], Awaitable[dict[Any, Any]]]
    ) -> ReadBatcher[Any, Any]:
        """This database's batcher ``name`` (made with ``load_many`` on first use): concurrent
        reads by key that share one query (``platform.batching``)."""
        found = self._batchers.get(name)
        if found is None:
            found = self._batchers[name] = ReadBatcher(name, load_many)
        return found

    def snapshot_session(self) -> AsyncSession:
        """A read-only session for a long read that must see one state of every table (an
        export): one REPEATABLE READ transaction on PostgreSQL (begin it); on SQLite the read
        session (a writer is never held up by it)."""
        if not self.is_postgresql:
            return self.read_session()
        engine = self.engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        return AsyncSession(engine, expire_on_commit=False, autoflush=False)

    def write_session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False, autoflush=False)

    def read_session(self) -> AsyncSession:
        return AsyncSession(self.read_engine, expire_on_commit=False, autoflush=False)

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _driver_arguments(url: str) -> tuple[str, dict[str, int]]:
    """asyncpg's ``statement_cache_size`` given in the URL (``0`` behind PgBouncer in
    transaction mode), moved to a typed connect argument: the URL would pass it as a string."""
    parsed = make_url(url)
    if "statement_cache_size" not in parsed.query:
        return url, {}
    value = parsed.query["statement_cache_size"]
    size = int(value if isinstance(value, str) else value[-1])
    rest = parsed.difference_update_query(["statement_cache_size"])
    return rest.render_as_string(hide_password=False), {"statement_cache_size": size}


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with database(request).read_session() as session:
        yield session
