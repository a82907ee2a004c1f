"""``Idempotency-Key`` (IETF httpapi idempotency-key-header draft) on every write.

At the start of a write's unit of work the key is claimed by inserting a row, scoped to the
caller, in the write's own transaction; just before the commit the row is completed with the
response (status, the headers that matter, body). So the stored answer commits atomically with
the change and its events, or not at all:

- a retry with the same key and the same request replays the stored answer, with
  ``Idempotent-Replayed: true``;
- the same key with a different request (method, path, query or body) is 422;
- a retry while the first is still running waits for it on PostgreSQL (its insert of the same
  key blocks until the first commits) and on SQLite (writers queue), then replays;
- only successful (2xx) answers are kept: a refused request changed nothing, and runs again.

Records live ``PROFILESTORE_IDEMPOTENCY_TTL_SECONDS`` (24 h); expired ones count as absent
and are pruned by the relay's housekeeping."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import JSON, Integer, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response

from profilestore.platform.auth import Principal
from profilestore.platform.db import Base, Database, UtcDateTime, utcnow
from profilestore.platform.errors import ProblemError, invalid
from profilestore.platform.uow import UnitOfWork, on_begin

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(KEY_PATTERN)
KEPT_HEADERS = ("content-type", "etag", "location")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class IdempotentReplay(Exception):
    """Answer with a stored response instead of running the request again."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("replay")
        self.record = record

    def response(self) -> Response:
        headers = {**(self.record.headers or {}), REPLAYED: "true"}
        return Response(
            self.record.body or b"", status_code=self.record.status or 200, headers=headers
        )


def install(app: FastAPI) -> None:
    """Claim keys at the start of every unit of work; answer replays."""
    on_begin(claim)

    async def on_replay(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IdempotentReplay)
        return exc.response()

    app.add_exception_handler(IdempotentReplay, on_replay)


def request_key(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]  # the draft's structured-field string form
    if not _KEY.match(key):
        raise invalid("header.idempotency-key", "1-255 visible ASCII characters", "idempotency_key")
    return key


async def claim(uow: UnitOfWork) -> None:
    request = uow.request
    key = request_key(request)
    if key is None:
        return
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    caller = principal.subject if principal is not None else "anonymous"
    fingerprint = await _fingerprint(request)
    session = uow.session
    existing = await _find(session, caller, key)
    if existing is not None:
        _replay_or_refuse(existing, fingerprint)
    now = utcnow()
    ttl = dt.timedelta(seconds=request.app.state.settings.idempotency_ttl_seconds)
    record = IdempotencyRecord(
        caller=caller, key=key, fingerprint=fingerprint, created_at=now, expires_at=now + ttl
    )
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        # A concurrent request with this key committed first (we waited for it): replay it.
        winner = await _find(session, caller, key)
        if winner is None:
            raise ProblemError(
                409, "idempotency-key-in-use", "A request with this key is in progress."
            ) from None
        _replay_or_refuse(winner, fingerprint)
    uow.before_commit(lambda unit: _complete(unit, record))


def _replay_or_refuse(record: IdempotencyRecord, fingerprint: str) -> None:
    if record.fingerprint != fingerprint:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        )
    if record.status is None:
        raise ProblemError(409, "idempotency-key-in-use", "A request with this key is in progress.")
    raise IdempotentReplay(record)


async def _find(session: AsyncSession, caller: str, key: str) -> IdempotencyRecord | None:
    """The live record of the key, if any; an expired one is deleted and counts as absent."""
    statement = select(IdempotencyRecord).where(
        IdempotencyRecord.caller == caller, IdempotencyRecord.key == key
    )
    record = (await session.execute(statement.execution_options(populate_existing=True))).scalar()
    if record is not None and record.expires_at <= utcnow():
        await session.delete(record)
        await session.flush()
        return None
    return record


async def _complete(uow: UnitOfWork, record: IdempotencyRecord) -> None:
    response = uow.response
    if response is None or not 200 <= response.status_code < 300:
        await uow.session.delete(record)
        return
    record.status = response.status_code
    record.headers = _kept_headers(response)
    record.body = bytes(response.body)
    await uow.session.flush()


def _kept_headers(response: Response) -> dict[str, Any]:
    return {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}


async def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(await request.body())
    return digest.hexdigest()


async def prune_expired(db: Database) -> int:
    async with db.write_session() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
