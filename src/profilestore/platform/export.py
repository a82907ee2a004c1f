"""``GET /v1/profiles/{user_id}/export`` (GDPR articles 15 and 20): everything this process's
domains hold about a user, as one JSON document streamed table by table, never built whole
in memory.

Each domain names its user-keyed tables once in its descriptor (``Domain.export_tables``);
the exporter reads each of them ``WHERE user_id = :id`` in key order, in partitions, in one
read-only REPEATABLE READ transaction on PostgreSQL (one state of every table), so a domain
added later is exported without touching this module. A test walks the metadata and fails
on a user-keyed table no domain exports. The document::

    {"user_id": "...", "exported_at": "...", "format": 1,
     "sections": {"<domain>": {"<table>": [{column: value, ...}, ...], ...}, ...}}
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Protocol

from fastapi import APIRouter, Request
from sqlalchemy import Table, select
from starlette.responses import StreamingResponse

from profilestore.platform import registry
from profilestore.platform.access import PrivateWrite
from profilestore.platform.db import Base
from profilestore.platform.errors import problem_responses
from profilestore.platform.jsonutil import dumps
from profilestore.platform.params import UserId

FORMAT = 1
PARTITION_ROWS = 500
PLATFORM_TABLES = ("owners", "erasure_requests", "audit_log")
"""Platform tables keyed by user: the owner directory of a process without profiles, the
erasures domain services have not confirmed yet, the user's audit records."""

router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["privacy"])


@router.get(
    "/export",
    summary="Everything every domain holds about the user, as one streamed JSON document",
    description=(
        "`sections` has one object per domain (and `platform`), each with one list of rows "
        "per table, the rows' columns as stored. Streamed: the document is written as the "
        "rows are read (one read transaction)."
    ),
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        **problem_responses(401, 404, 422),
    },
)
async def export_user(request: Request, user_id: UserId, _: PrivateWrite) -> StreamingResponse:
    remote: RemoteExport | None = request.app.state.remote_privacy
    services = None if remote is None else remote.export(user_id, request)
    chunks = export_document(request.app.state.db, user_id, services)
    return StreamingResponse(chunks, media_type="application/json")


class RemoteExport(Protocol):
    """The exports of the domain services of a federation (``profilestore.hub.privacy``)."""

    def export(self, user_id: uuid.UUID, request: Request) -> AsyncIterator[bytes]:
        """The document's members ``"services":{...},"incomplete":[...]``."""
        ...


def sections() -> list[tuple[str, tuple[Table, ...]]]:
    """(section, tables) for every installed domain, and the platform's."""
    tables = Base.metadata.tables
    found = [
        (domain.name, tuple(tables[name] for name in domain.export_tables))
        for domain in registry.installed()
        if domain.export_tables
    ]
    platform = tuple(tables[name] for name in PLATFORM_TABLES if name in tables)
    return [*found, ("platform", platform)] if platform else found


async def export_document(
    db: Any, user_id: uuid.UUID, services: AsyncIterator[bytes] | None = None
) -> AsyncIterator[bytes]:
    now = dt.datetime.now(dt.UTC)
    head = {"user_id": str(user_id), "exported_at": now, "format": FORMAT}
    yield dumps(head)[:-1] + b',"sections":{'
    async with db.snapshot_session() as session, session.begin():
        for number, (name, tables) in enumerate(sections()):
            yield (b"," if number else b"") + dumps(name) + b":{"
            for index, table in enumerate(tables):
                yield (b"," if index else b"") + dumps(table.name) + b":["
                statement = (
                    select(table)
                    .where(table.c.user_id == user_id)
                    .order_by(*table.primary_key.columns)
                )
                first = True
                result = await session.stream(statement)
                names = [str(column.name) for column in table.columns]
                async for partition in result.partitions(PARTITION_ROWS):
                    for row in partition:
                        yield (b"" if first else b",") + dumps(_row(names, row))
                        first = False
                yield b"]"
            yield b"}"
    yield b"}"
    if services is not None:
        yield b","
        async for chunk in services:
            yield chunk
    yield b"}"


def _row(names: list[str], row: Any) -> dict[str, Any]:
    return {name: _value(value) for name, value in zip(names, row, strict=True)}


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
