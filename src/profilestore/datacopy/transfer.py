"""The copy itself: migrate the target to the source's revisions, copy every table in
primary-key order one batch per target transaction, resume after the rows already there, set
the sequences, then verify."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Table, and_, func, insert, literal, null, select
from sqlalchemy import tuple_ as row_value
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Select

from profilestore.datacopy.database import (
    CopyRefused,
    check_urls,
    count,
    exists,
    is_sql_null,
    nullable_json,
    primary_key,
    read_columns,
    tables_in,
)
from profilestore.datacopy.progress import CopyProgress
from profilestore.datacopy.verify import TableCheck, verify_tables
from profilestore.migrations import runner
from profilestore.migrations.legacy import heads_of


def copy_database(
    source_url: str,
    target_url: str,
    *,
    batch_size: int,
    resume: bool,
    progress: CopyProgress,
) -> list[TableCheck]:
    """Migrate the target, copy every table, and return the verification of every table."""
    check_urls(source_url, target_url, target_must_exist=False)
    if not resume and exists(make_url(target_url)):
        asyncio.run(_refuse_a_filled_target(target_url))
    migrate_target(source_url, target_url)
    return asyncio.run(_copy_and_verify(source_url, target_url, batch_size, progress))


def migrate_target(source_url: str, target_url: str) -> None:
    """Upgrade the target to the revisions the source is at (which must be current heads)."""
    at = runner.revisions_at(source_url)
    if not at:
        raise CopyRefused("--from: the source has no profilestore schema (no migrations applied)")
    script = runner.script_directory()
    unknown = at - set(script.get_heads())
    if unknown:
        raise CopyRefused(
            f"--from: the source is at revisions this version does not end at "
            f"({', '.join(sorted(unknown))}): run `profilestore db upgrade` on it first"
        )
    destination = tuple(sorted(heads_of(script, at)))  # a link's domain head is not asked twice
    runner.upgrade(target_url, destination)  # type: ignore[arg-type]  # Alembic takes several


async def _refuse_a_filled_target(target_url: str) -> None:
    """Without --resume no table of the target may hold a row (checked before the target is
    migrated, so a refused target is left as it was)."""
    engine = create_async_engine(target_url)
    try:
        async with engine.connect() as conn:
            for table in await tables_in(conn):
                rows = await count(conn, table)
                if rows:
                    raise CopyRefused(
                        f"--to: the target's table {table.name} already holds {rows} rows: copy "
                        "into an empty database, or pass --resume to continue an interrupted "
                        "copy of this source"
                    )
    finally:
        await engine.dispose()


async def _copy_and_verify(
    source_url: str, target_url: str, batch_size: int, progress: CopyProgress
) -> list[TableCheck]:
    source, target = create_async_engine(source_url), create_async_engine(target_url)
    try:
        async with _source_snapshot(source) as reader:
            tables = await tables_in(reader)
            plans = [await _plan(reader, target, table) for table in tables]
            for plan in plans:
                await _copy_table(reader, target, plan, batch_size, progress)
        await _reset_sequences(target, tables)
        return await verify_tables(source, target, tables, batch_size)
    finally:
        await source.dispose()
        await target.dispose()


@asynccontextmanager
async def _source_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read connection of the source for the whole copy: on PostgreSQL a read-only
    REPEATABLE READ transaction, so every table is read as of one moment."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    async with engine.connect() as conn:
        yield conn


@dataclass(frozen=True)
class _TablePlan:
    table: Table
    total: int
    done: int
    after: tuple[Any, ...] | None
    """The key of the last row already in the target (None: start at the first row)."""


async def _plan(reader: AsyncConnection, target: AsyncEngine, table: Table) -> _TablePlan:
    """Where the table's copy starts: after the rows already in the target, once they are seen
    to be the first rows of the source (refused otherwise, before any row is written)."""
    total = await count(reader, table)
    async with target.connect() as conn:
        done = await count(conn, table)
    after = await _resume_point(reader, target, table, done, total) if done else None
    return _TablePlan(table, total, done, after)


async def _resume_point(
    reader: AsyncConnection, target: AsyncEngine, table: Table, done: int, total: int
) -> tuple[Any, ...]:
    """The source's ``done``-th key, once the target holds it and not the source's next one."""
    if done > total:
        raise CopyRefused(
            f"--resume: the target's table {table.name} holds {done} rows, the source {total}: "
            "the target is not a copy of this source"
        )
    key = primary_key(table)
    found = (await reader.execute(select(*key).order_by(*key).offset(done - 1).limit(2))).all()
    last, following = tuple(found[0]), tuple(found[1]) if len(found) > 1 else None
    async with target.connect() as conn:
        prefix = await _holds(conn, table, last)
        if following is not None:
            prefix = prefix and not await _holds(conn, table, following)
    if not prefix:
        raise CopyRefused(
            f"--resume: the target's table {table.name} is not the first {done} rows of the "
            "source's: it is not an interrupted copy of this source; copy into an empty database"
        )
    return last


async def _holds(conn: AsyncConnection, table: Table, key: tuple[Any, ...]) -> bool:
    pairs = zip(primary_key(table), key, strict=True)
    query = select(literal(1)).select_from(table).where(and_(*(c == v for c, v in pairs)))
    return (await conn.execute(query)).first() is not None


async def _copy_table(
    reader: AsyncConnection,
    target: AsyncEngine,
    plan: _TablePlan,
    batch_size: int,
    progress: CopyProgress,
) -> None:
    """Keyset pagination over the source's primary key, each batch one target transaction."""
    table, after = plan.table, plan.after
    progress.table_started(table.name, plan.total, plan.done)
    remaining = plan.done < plan.total
    while remaining:
        rows = (await reader.execute(_batch_query(table, after, batch_size))).all()
        if rows:
            async with target.begin() as conn:
                await conn.execute(insert(table), [_insertable(table, row) for row in rows])
            after = tuple(rows[-1]._mapping[column] for column in primary_key(table))
            progress.rows_copied(table.name, len(rows))
        remaining = len(rows) == batch_size
    progress.table_finished(table.name)


def _batch_query(table: Table, after: tuple[Any, ...] | None, size: int) -> Select[Any]:
    key = primary_key(table)
    query = select(*read_columns(table)).order_by(*key).limit(size)
    if after is None:
        return query
    bound = [literal(value, column.type) for column, value in zip(key, after, strict=True)]
    return query.where(row_value(*key) > row_value(*bound))


def _insertable(table: Table, row: Row[Any]) -> dict[str, Any]:
    values = {column.key: row._mapping[column] for column in table.columns}
    for column in nullable_json(table):
        if is_sql_null(row, column):
            values[column.key] = null()  # a plain None would be written as JSON null
    return values


async def _reset_sequences(target: AsyncEngine, tables: Sequence[Table]) -> None:
    """Set each PostgreSQL sequence behind an autoincrement key past the largest copied value."""
    if target.dialect.name != "postgresql":
        return  # SQLite's AUTOINCREMENT follows explicitly inserted keys by itself
    async with target.begin() as conn:
        for table in tables:
            column = table.autoincrement_column
            if column is None:
                continue
            sequence = func.pg_get_serial_sequence(table.name, column.name)
            following = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
            await conn.execute(
                select(func.setval(sequence, following, False)).where(sequence.is_not(None))
            )
