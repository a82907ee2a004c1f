"""The audit log: every change to a user's data, who made it and when, in the changing
transaction.

Changes are captured from the session, so no service has to report them and a write added
later is audited too:

- each flush records the ORM rows of user-keyed tables it inserts, updates or deletes, with
  the old and new value of every changed column (``version``, ``created_at``, ``updated_at``
  and ``user_id`` aside), and the outbox events it writes (keyed by user);
- just before the outermost commit, each user touched gets **one** record: who (the token's
  subject and roles, the request id: put in the session by the unit of work; ``system`` for
  background work), the route and path, the event types, and the row changes (the first old
  and the last new value of each field; a row made and removed in one transaction leaves
  none). A batch of a thousand calorie events is one record.

Values a domain declares sensitive (``Domain.audit_sensitive``) are recorded as
``{"changed": true}``; a table no installed domain owns has every value masked (fail closed).
Event types a domain declares activity (``Domain.audit_skipped_events``: presence) make no
record. What a savepoint rolled back is forgotten; a transaction that does not commit writes
nothing. Writes made with Core statements (bulk inserts, deletes by condition) show as their
events and the request path, without field values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    Uuid,
    delete,
    event,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column
from starlette.requests import Request

from profilestore.platform.audit_changes import Captured, Policy, captured_from, summarize
from profilestore.platform.db import Base, Database, UtcDateTime, utcnow

TABLE = "audit_log"
SYSTEM = "system"
ERASURE = "erasure"
MAX_ROW_CHANGES = 50
"""Row changes one record lists; more are counted in ``more_changes``."""
MAX_TARGET = 512

Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class AuditRecord(Base):
    __tablename__ = TABLE
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    actor_roles: Mapped[list[str]] = mapped_column(Json)
    request_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(255))
    target: Mapped[str | None] = mapped_column(String(MAX_TARGET))
    events: Mapped[list[str]] = mapped_column(Json)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    more_changes: Mapped[int] = mapped_column(Integer, default=0)


AUDIT_LOG = cast(Table, AuditRecord.__table__)
Index("ix_audit_log_user_id_id", AuditRecord.user_id, AuditRecord.id)
Index("ix_audit_log_at", AuditRecord.at)


@dataclass(frozen=True)
class Actor:
    """Who writes through a session: a token's subject and roles, the request id, and the
    action (``METHOD /route/{template}``, or a job's name) on ``target`` (the path)."""

    subject: str
    roles: tuple[str, ...] = ()
    request_id: str | None = None
    action: str = SYSTEM
    target: str | None = None


SYSTEM_ACTOR = Actor(SYSTEM)
_ACTOR = "audit_actor"
_CAPTURED = "audit_captured"
_ERASED = "audit_erased"
_RECORDED = "audit_recorded"


def act_as(session: AsyncSession | Session, actor: Actor) -> None:
    """Record the session's changes as made by ``actor`` (default: ``system``)."""
    session.info[_ACTOR] = actor


def actor_of(session: AsyncSession | Session) -> Actor:
    found = session.info.get(_ACTOR)
    return found if isinstance(found, Actor) else SYSTEM_ACTOR


def request_actor(request: Request) -> Actor:
    """The caller of a request, as its token and the request pipeline name it."""
    state = request.scope.get("state", {})
    principal = state.get("principal")
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or request.url.path
    return Actor(
        subject=principal.subject if principal is not None else SYSTEM,
        roles=tuple(sorted(principal.roles)) if principal is not None else (),
        request_id=state.get("request_id"),
        action=f"{request.method} {template}"[:255],
        target=str(request.scope.get("path", ""))[:MAX_TARGET],
    )


def _current(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _captured(session: Session) -> list[Captured]:
    found: list[Captured] = session.info.setdefault(_CAPTURED, [])
    return found


@event.listens_for(Session, "before_flush")
def _capture_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not session.info.get(_RECORDED):  # the commit's own flush was captured before it
        _capture_pending(session)


def _capture_pending(session: Session) -> None:
    captured = _captured(session)
    for op, instances in (
        ("created", session.new),
        ("updated", session.dirty),
        ("deleted", session.deleted),
    ):
        for instance in instances:
            found = captured_from(instance, op, _current(session), TABLE)
            if found is not None:
                captured.append(found)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: SessionTransaction) -> None:
    captured = session.info.get(_CAPTURED)
    if captured:
        captured[:] = [c for c in captured if previous not in _ancestry(c.transaction)]


def _ancestry(transaction: SessionTransaction | None) -> Iterator[SessionTransaction]:
    while transaction is not None:
        yield transaction
        transaction = transaction.parent


@event.listens_for(Session, "before_commit")
def _record(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint is released: its changes are recorded with the outermost commit
    _capture_pending(session)  # what the commit's flush will write
    session.info[_RECORDED] = True
    captured = session.info.pop(_CAPTURED, None)
    if not captured:
        return
    erased = session.info.get(_ERASED, set())
    policy = Policy.installed()
    actor = actor_of(session)
    by_user: dict[uuid.UUID, list[Captured]] = {}
    for item in captured:
        if item.user_id not in erased:
            by_user.setdefault(item.user_id, []).append(item)
    rows = []
    for user_id, items in by_user.items():
        events, changes = summarize(items, policy)
        if events or changes:
            rows.append(record_values(user_id, actor, events=events, changes=changes))
    if rows:  # a plain INSERT (no RETURNING of the ids: nothing here reads them)
        session.execute(insert(AUDIT_LOG), rows)


@event.listens_for(Session, "after_transaction_end")
def _clear(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (committed or not)
        for key in (_CAPTURED, _ERASED, _RECORDED):
            session.info.pop(key, None)


def record_values(
    user_id: uuid.UUID,
    actor: Actor,
    *,
    events: list[str],
    changes: list[dict[str, Any]],
    action: str | None = None,
) -> dict[str, Any]:
    """The columns of a record of ``actor``'s change; row changes past ``MAX_ROW_CHANGES``
    are counted, not listed."""
    return {
        "user_id": user_id,
        "at": utcnow(),
        "actor": actor.subject,
        "actor_roles": list(actor.roles),
        "request_id": actor.request_id,
        "action": action or actor.action,
        "target": actor.target,
        "events": events,
        "changes": changes[:MAX_ROW_CHANGES],
        "more_changes": max(0, len(changes) - MAX_ROW_CHANGES),
    }


def new_record(
    user_id: uuid.UUID,
    actor: Actor,
    *,
    events: list[str],
    changes: list[dict[str, Any]],
    action: str | None = None,
) -> AuditRecord:
    values = record_values(user_id, actor, events=events, changes=changes, action=action)
    return AuditRecord(**values)


async def erase_audit(
    session: AsyncSession, user_id: uuid.UUID, actor: Actor | None = None
) -> None:
    """Delete the user's audit records and leave one saying that an erasure happened (who,
    when, the request id; no data). Nothing else of the user is recorded in this transaction:
    what the erasure itself removes is not logged."""
    await session.execute(delete(AuditRecord).where(AuditRecord.user_id == user_id))
    session.info.setdefault(_ERASED, set()).add(user_id)
    captured = session.info.get(_CAPTURED)
    if captured:
        captured[:] = [c for c in captured if c.user_id != user_id]
    session.add(
        new_record(user_id, actor or actor_of(session), events=[], changes=[], action=ERASURE)
    )


async def prune_audit(db: Database, retention_seconds: float) -> int:
    """Delete audit records older than the retention (erasure markers too)."""
    cutoff = utcnow() - dt.timedelta(seconds=retention_seconds)
    async with db.write_session() as session:
        result = await session.execute(delete(AuditRecord).where(AuditRecord.at < cutoff))
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
