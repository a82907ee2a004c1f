"""The jobs behind ``profilestore export profiles`` and ``profilestore import profiles``:
profiles as JSON Lines (one record of ``domains/profiles/bulk.py`` a line), for operators.

An import applies ``BATCH_LINES`` lines a transaction, each line in a savepoint: a line that
is refused (reported with its number and the field errors) leaves nothing behind, the other
lines of its batch are kept. The cache keys a batch makes stale are dropped before its commit
and again after it, as a request's unit of work does (with ``PROFILESTORE_REDIS_URL`` this
reaches every running server; without it, a server's own cache may serve a profile for up to
``PROFILESTORE_CACHE_TTL_SECONDS``). A dry run applies each batch in the same way, reports
the same, and rolls it back.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import admin, bulk, bulk_import
from profilestore.domains.registry import selected
from profilestore.platform.cache import STALE_KEYS, Cache, build_cache
from profilestore.platform.db import Database
from profilestore.platform.errors import ProblemError
from profilestore.platform.events.outbox import EventOptions
from profilestore.platform.jsonutil import dumps
from profilestore.platform.registry import install
from profilestore.platform.uow import SETTINGS
from profilestore.settings import Settings

BATCH_LINES = 500
MAX_LINE_BYTES = 1024 * 1024
Echo = Callable[[str], None]
Line = tuple[int, bytes | None]
"""A line's number and its bytes (None: longer than ``MAX_LINE_BYTES``)."""


def parse_since(text: str) -> dt.datetime:
    """An RFC 3339 time with an offset (``ValueError`` with the reason otherwise)."""
    try:
        return TypeAdapter(admin.UpdatedSince).validate_python(text)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None


@contextmanager
def output(target: str) -> Iterator[BinaryIO]:
    """Standard output for ``-``; else the file, written beside it first and renamed into
    place once complete (an interrupted export leaves no file that looks whole)."""
    if target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as stream:
            yield stream
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


async def export_profiles(
    settings: Settings, out: BinaryIO, updated_since: dt.datetime | None, db: Database | None = None
) -> int:
    """Write a line per profile updated at or after ``updated_since`` (None: all); the count."""
    database = db or Database(settings)
    count = 0
    try:
        async for record in bulk.records(database, updated_since):
            out.write(dumps(record) + b"\n")
            count += 1
    finally:
        if db is None:
            await database.dispose()
    return count


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0

    def add(self, outcome: bulk_import.Outcome) -> None:
        if outcome == "created":
            self.created += 1
        elif outcome == "updated":
            self.updated += 1
        else:
            self.unchanged += 1

    def summary(self, dry_run: bool) -> str:
        verb = "would import" if dry_run else "imported"
        return (
            f"{verb}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.refused} refused"
        )


async def import_profiles(
    settings: Settings,
    stream: BinaryIO,
    *,
    dry_run: bool,
    echo: Echo,
    db: Database | None = None,
) -> ImportReport:
    """Apply every line of ``stream``; each refused line is echoed with its number."""
    install(selected(settings.domains))  # other domains' hooks on a profile change
    database = db or Database(settings)
    cache = build_cache(settings)
    report = ImportReport()
    try:
        lines = numbered_lines(stream)
        while batch := list(itertools.islice(lines, BATCH_LINES)):
            await _import_batch(database, cache, settings, batch, report, dry_run, echo)
    finally:
        await cache.close()
        if db is None:
            await database.dispose()
    echo(report.summary(dry_run))
    return report


def numbered_lines(stream: BinaryIO) -> Iterator[Line]:
    """The non-blank lines of ``stream`` with their numbers (from 1), read one at a time."""
    for number in itertools.count(1):
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            while line and not line.endswith(b"\n"):  # skip the rest of it
                line = stream.readline(MAX_LINE_BYTES)
            yield number, None
        elif line.strip():
            yield number, line


async def _import_batch(
    database: Database,
    cache: Cache,
    settings: Settings,
    batch: list[Line],
    report: ImportReport,
    dry_run: bool,
    echo: Echo,
) -> None:
    refusals: dict[int, list[str]] = {}
    records = []
    for number, line in batch:
        try:
            records.append((number, _parse(line)))
        except bulk_import.RecordRefused as exc:
            refusals[number] = exc.errors
    async with database.write_session() as session:
        _prepare(session, settings)
        async with session.begin() as transaction:
            for number, record in records:
                try:
                    async with session.begin_nested():
                        outcome = await bulk_import.apply_record(
                            session, record, address_limit=settings.max_addresses_per_user
                        )
                except ProblemError as exc:
                    refusals[number] = bulk_import.problem_lines(exc)
                else:
                    report.add(outcome)
            stale = sorted(session.info.get(STALE_KEYS, ()))
            if dry_run:
                await transaction.rollback()
            else:
                await cache.invalidate(*stale)
    if not dry_run:
        await cache.invalidate(*stale)
    _refuse(report, refusals, echo)


def _parse(line: bytes | None) -> bulk_import.ProfileRecord:
    if line is None:
        raise bulk_import.RecordRefused([f"longer than {MAX_LINE_BYTES} bytes"])
    return bulk_import.parse_record(line)


def _prepare(session: AsyncSession, settings: Settings) -> None:
    """What a request's unit of work tells the services (``platform.uow``)."""
    session.info["event_options"] = EventOptions(
        source=settings.events_source, include_private=settings.events_include_private
    )
    session.info[SETTINGS] = settings


def _refuse(report: ImportReport, refusals: dict[int, list[str]], echo: Echo) -> None:
    for number in sorted(refusals):
        report.refused += 1
        for error in refusals[number]:
            echo(f"line {number}: {error}")
