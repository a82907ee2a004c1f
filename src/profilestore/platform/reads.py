"""Reads prepared once, run with the least work per request (the hot read path).

A ``PreparedRead`` wraps a Core ``select`` whose values are named ``bindparam`` s. It is built
once, at import. Run against the ``Database``:

- on PostgreSQL it runs on the pooled connection's asyncpg driver directly. The SQL is
  compiled once per engine, asyncpg keeps the server-side prepared statement, and rows are
  converted by the column types' own result processors. No statement is built, cache-keyed or
  compiled per request, and no ORM session is opened. With row-level security
  (``platform.rls``) it runs in a transaction whose ``BEGIN`` carries the caller's identity;
- on SQLite (and for statements with expanding ``IN`` parameters) it runs through SQLAlchemy
  Core on an autocommit connection.

Both give the same dicts (the test suite holds them equal). Run against an ``AsyncSession``,
it executes inside that session's transaction, so a write can reuse the same read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import Float, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import greenlet_spawn

if TYPE_CHECKING:
    from profilestore.platform.db import Database

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Parameter:
    """One positional parameter: a value passed by name, or a literal of the statement."""

    key: str
    convert: Processor
    literal: Any
    required: bool

    def value(self, values: dict[str, Any]) -> Any:
        if self.key in values:
            value = values[self.key]
        elif self.required:
            raise KeyError(f"missing value for the bound parameter {self.key!r}")
        else:
            value = self.literal
        return value if self.convert is None else self.convert(value)


@dataclass(frozen=True, slots=True)
class _DriverQuery:
    """The statement compiled for one dialect: SQL, parameter order and converters."""

    sql: str
    parameters: tuple[_Parameter, ...]
    columns: tuple[tuple[str, Processor], ...]

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [parameter.value(values) for parameter in self.parameters]

    def row(self, record: Any) -> dict[str, Any]:
        return {
            name: value if convert is None or value is None else convert(value)
            for (name, convert), value in zip(self.columns, record, strict=True)
        }


def _compile(statement: Select[Any], dialect: Dialect) -> _DriverQuery | None:
    """The driver-level form of ``statement``, or None where the Core path must be used."""
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds
    order = compiled.positiontup
    if order is None or any(binds[name].expanding for name in order):
        return None
    parameters = tuple(
        _Parameter(
            key=bind.key,
            convert=bind.type.dialect_impl(dialect).bind_processor(dialect),
            literal=bind.effective_value,
            required=bind.required,
        )
        for bind in (binds[name] for name in order)
    )
    columns = tuple(
        (str(column.key), _result_processor(column.type, dialect))
        for column in statement.selected_columns
    )
    return _DriverQuery(str(compiled), parameters, columns)


def _result_processor(column_type: Any, dialect: Dialect) -> Processor:
    """The column type's converter of driver values. Floats need none: asyncpg returns
    ``float8`` as a float (and SQLAlchemy's asyncpg float processor wants the server's type
    code, which a statement compiled ahead of time does not have)."""
    if isinstance(column_type, Float) and not column_type.asdecimal:
        return None
    processor: Processor = column_type.dialect_impl(dialect).result_processor(dialect, None)
    return processor


class PreparedRead:
    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._driver_queries: dict[int, _DriverQuery | None] = {}

    async def one(self, source: Database | AsyncSession, **values: Any) -> dict[str, Any] | None:
        rows = await self._run(source, values, first_only=True)
        return rows[0] if rows else None

    async def all(self, source: Database | AsyncSession, **values: Any) -> list[dict[str, Any]]:
        return await self._run(source, values, first_only=False)

    async def _run(
        self, source: Database | AsyncSession, values: dict[str, Any], *, first_only: bool
    ) -> list[dict[str, Any]]:
        if isinstance(source, AsyncSession):
            return _dicts((await source.execute(self.statement, values)).mappings(), first_only)
        query = self._driver_query(source) if source.is_postgresql else None
        if query is None:
            async with source.read_engine.connect() as connection:
                result = await connection.execute(self.statement, values)
                return _dicts(result.mappings(), first_only)
        return await _run_on_driver(source, query, values, first_only)

    def _driver_query(self, db: Database) -> _DriverQuery | None:
        key = id(db.engine.dialect)
        if key not in self._driver_queries:
            self._driver_queries[key] = _compile(self.statement, db.engine.dialect)
        return self._driver_queries[key]


def _connection_broken(driver: Any, exc: Exception) -> bool:
    """Whether the connection is unusable after ``exc`` (it then leaves the pool)."""
    if driver.is_closed() or not isinstance(exc, asyncpg.PostgresError):
        return True
    return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError)


def _dicts(mappings: Any, first_only: bool) -> list[dict[str, Any]]:
    if first_only:
        row = mappings.first()
        return [dict(row)] if row is not None else []
    return [dict(row) for row in mappings]


async def _run_on_driver(
    db: Database, query: _DriverQuery, values: dict[str, Any], first_only: bool
) -> list[dict[str, Any]]:
    """Run on a pooled connection's driver. A read is safe to repeat, so one that finds its
    connection dead (the server restarted, or killed it while idle) is retried once on a fresh
    connection; the pool is marked so that every other connection opened before the failure is
    replaced when next checked out, instead of failing one request each."""
    try:
        return await _run_once(db, query, values, first_only)
    except _BrokenConnection:
        pass
    try:
        return await _run_once(db, query, values, first_only)
    except _BrokenConnection as retry_failed:
        cause = retry_failed.__cause__ or retry_failed
        raise OperationalError(query.sql, [], cause) from cause


class _BrokenConnection(Exception):
    """The connection was unusable; it and its pool generation were invalidated."""


async def _run_once(
    db: Database, query: _DriverQuery, values: dict[str, Any], first_only: bool
) -> list[dict[str, Any]]:
    """Borrow a pooled connection, run on its asyncpg driver, give it back. The adapter never
    starts a transaction here, so returning it needs no rollback (no round trip)."""
    arguments = query.arguments(values)
    try:
        async with asyncio.timeout(db.timeout_seconds):
            await db.read_slots.acquire()
    except TimeoutError:
        raise PoolTimeout("no database connection became free in time") from None
    try:
        return await _borrow_and_run(db, query, arguments, first_only)
    finally:
        db.read_slots.release()


async def _borrow_and_run(
    db: Database, query: _DriverQuery, arguments: list[Any], first_only: bool
) -> list[dict[str, Any]]:
    pooled = await db.read_engine.raw_connection()
    driver: Any = pooled.driver_connection
    try:
        if db.row_security:
            async with driver.transaction():  # its BEGIN carries the caller (platform.rls)
                records = await _fetch(driver, query, arguments, first_only, db.timeout_seconds)
        else:
            records = await _fetch(driver, query, arguments, first_only, db.timeout_seconds)
    except Exception as exc:
        if not _connection_broken(driver, exc):
            raise  # the server refused the statement; the connection is fine
        db.engine.pool._invalidate(pooled, exc)  # this connection and its whole generation
        raise _BrokenConnection from exc
    except BaseException:
        pooled.invalidate()  # cancelled mid-query: the connection's state is unknown
        raise
    finally:
        # In SQLAlchemy's greenlet context: a connection the pool cannot keep (an overflow one
        # when the pool is full) is closed there, which awaits the driver.
        await greenlet_spawn(pooled.close)
    return [query.row(record) for record in records]


async def _fetch(
    driver: Any, query: _DriverQuery, arguments: list[Any], first_only: bool, seconds: float
) -> Sequence[Any]:
    if first_only:
        record = await driver.fetchrow(query.sql, *arguments, timeout=seconds)
        return [record] if record is not None else []
    records: Sequence[Any] = await driver.fetch(query.sql, *arguments, timeout=seconds)
    return records
