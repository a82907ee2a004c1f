"""The verification: per table, the row count and an order-independent checksum of the content
on both sides.

Each row is encoded canonically (columns in model order, JSON objects with sorted keys, JSON
numbers in one form since JSONB stores ``2.0`` as ``2``), hashed with BLAKE2b to 64 bits, and
the hashes are summed modulo 2**64, in Python, so that SQLite and PostgreSQL agree. A sum (not
an xor) counts a duplicated row."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Row, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from profilestore.datacopy.database import (
    check_urls,
    is_sql_null,
    nullable_json,
    read_columns,
    table_names,
    tables_in,
)

CHECKSUM_MODULUS = 2**64
INT64_LIMIT = 2**63


@dataclass(frozen=True)
class Digest:
    """A table's row count and order-independent content checksum."""

    rows: int
    checksum: int


@dataclass(frozen=True)
class TableCheck:
    """The verification of one table; ``target`` is None when the target lacks the table."""

    name: str
    source: Digest
    target: Digest | None

    @property
    def equal(self) -> bool:
        return self.source == self.target

    def describe(self) -> str:
        if self.target is None:
            return "DIFFERENT: missing from the target"
        if self.equal:
            return "ok"
        if self.source.rows != self.target.rows:
            return f"DIFFERENT: {self.source.rows} rows in the source, {self.target.rows} here"
        return "DIFFERENT: same row count, different content"


def verify_database(source_url: str, target_url: str, *, batch_size: int) -> list[TableCheck]:
    """Compare every table of the source with the target's (counts and checksums)."""
    check_urls(source_url, target_url, target_must_exist=True)
    return asyncio.run(_verify(source_url, target_url, batch_size))


async def _verify(source_url: str, target_url: str, batch_size: int) -> list[TableCheck]:
    source, target = create_async_engine(source_url), create_async_engine(target_url)
    try:
        async with source.connect() as conn:
            tables = await tables_in(conn)
        return await verify_tables(source, target, tables, batch_size)
    finally:
        await source.dispose()
        await target.dispose()


async def verify_tables(
    source: AsyncEngine, target: AsyncEngine, tables: Sequence[Table], batch_size: int
) -> list[TableCheck]:
    """Each table's digest on both sides (read at the same time)."""
    async with target.connect() as conn:
        present = await table_names(conn)
    checks = []
    for table in tables:
        if table.name not in present:
            checks.append(TableCheck(table.name, await _digest(source, table, batch_size), None))
            continue
        ours, theirs = await asyncio.gather(
            _digest(source, table, batch_size), _digest(target, table, batch_size)
        )
        checks.append(TableCheck(table.name, ours, theirs))
    return checks


async def _digest(engine: AsyncEngine, table: Table, batch_size: int) -> Digest:
    rows = checksum = 0
    async with engine.connect() as conn:
        result = await conn.stream(select(*read_columns(table)))
        async for partition in result.partitions(batch_size):
            for row in partition:
                rows += 1
                checksum = (checksum + row_hash(table, row)) % CHECKSUM_MODULUS
    return Digest(rows, checksum)


def row_hash(table: Table, row: Row[Any]) -> int:
    """A 64-bit hash of the row's canonical encoding (the same on every backend)."""
    values = [_canonical(column, row._mapping[column]) for column in table.columns]
    values += [is_sql_null(row, column) for column in nullable_json(table)]
    encoded = orjson.dumps(values, default=_encode_scalar, option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "big")


def _canonical(column: Column[Any], value: Any) -> Any:
    return canonical_json(value) if isinstance(column.type, JSON) else value


def canonical_json(value: Any) -> Any:
    """A JSON value with every number in one form: JSONB keeps numbers as decimals, so ``2.0``
    comes back as ``2`` and ``1e20`` as a 21-digit integer."""
    if isinstance(value, dict):
        return {key: canonical_json(child) for key, child in value.items()}
    if isinstance(value, list):
        return [canonical_json(child) for child in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if abs(value) < INT64_LIMIT and value == int(value):
        return int(value)
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return str(value)


def _encode_scalar(value: Any) -> str:
    """What orjson does not encode itself: bytes as hex, Decimal (and the rest) as text."""
    return value.hex() if isinstance(value, bytes) else str(value)


def all_equal(checks: Sequence[TableCheck]) -> bool:
    return all(check.equal for check in checks)


def report_lines(checks: Sequence[TableCheck]) -> Iterator[str]:
    """The verification as text: one line per table, then the verdict."""
    width = max((len(check.name) for check in checks), default=5)
    yield f"{'table':<{width}}  {'source rows':>11}  {'target rows':>11}  result"
    for check in checks:
        target = "-" if check.target is None else str(check.target.rows)
        yield f"{check.name:<{width}}  {check.source.rows:>11}  {target:>11}  {check.describe()}"
    differing = [check.name for check in checks if not check.equal]
    if differing:
        yield f"verification FAILED: {len(differing)} tables differ: {', '.join(differing)}"
    else:
        yield f"verified: the {len(checks)} tables are equal (row counts and checksums)"
