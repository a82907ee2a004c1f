"""What the copy and the verification share: the URL checks and the refusal, the tables a
database holds, and how a table's rows are read (with the SQL NULL flag of nullable JSON
columns, since SQL NULL and JSON ``null`` both read as None)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Row, Table, func, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from profilestore.migrations import runner

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
SQL_NULL_FLAG = "__sql_null_{}"


class CopyRefused(Exception):
    """The copy or verification cannot go ahead safely; the message says why and what to do."""


def check_urls(source_url: str, target_url: str, *, target_must_exist: bool) -> None:
    """Refuse unsupported URLs, a source that is its target, and a missing SQLite file."""
    source, target = _parsed(source_url, "--from"), _parsed(target_url, "--to")
    if _same_database(source, target):
        raise CopyRefused("--from and --to name the same database")
    for label, url, must_exist in (("--from", source, True), ("--to", target, target_must_exist)):
        if must_exist and not exists(url):
            raise CopyRefused(f"{label}: no SQLite database at {url.database!r}")


def exists(url: URL) -> bool:
    """False for a SQLite URL without its file (connecting would create an empty one)."""
    if not url.drivername.startswith("sqlite"):
        return True
    database = url.database or ":memory:"
    return database != ":memory:" and Path(database).is_file()


def _parsed(url: str, label: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CopyRefused(f"{label}: not a database URL: {url!r}") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise CopyRefused(
            f"{label}: the driver must be one of {', '.join(SUPPORTED_DRIVERS)}, "
            f"not {parsed.drivername!r}"
        )
    return parsed


def _same_database(one: URL, other: URL) -> bool:
    if one.drivername.startswith("sqlite") and other.drivername.startswith("sqlite"):
        return Path(str(one.database)).resolve() == Path(str(other.database)).resolve()
    return one.set(password=None) == other.set(password=None)


async def table_names(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def tables_in(conn: AsyncConnection) -> list[Table]:
    """The model tables the database holds, parents before children."""
    names = await table_names(conn)
    return [table for table in runner.target_metadata().sorted_tables if table.name in names]


async def count(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def primary_key(table: Table) -> list[Column[Any]]:
    return list(table.primary_key.columns)


def nullable_json(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if c.nullable and isinstance(c.type, JSON)]


def read_columns(table: Table) -> list[ColumnElement[Any]]:
    """The table's columns, then for each nullable JSON column whether it is SQL NULL."""
    flags = [
        column.is_(None).label(SQL_NULL_FLAG.format(column.name)) for column in nullable_json(table)
    ]
    return [*table.columns, *flags]


def is_sql_null(row: Row[Any], column: Column[Any]) -> bool:
    """Whether the nullable JSON ``column`` of a row read with ``read_columns`` is SQL NULL."""
    return bool(row._mapping[SQL_NULL_FLAG.format(column.name)])
