"""``POST /v1/profiles/{user_id}/erase`` (GDPR article 17): remove everything this process's
domains hold of a user, and every trace the platform keeps of them, in one transaction.

What goes (docs/privacy.md):

- every installed domain's rows of the user, and other users' rows that point at them (their
  contacts of and blocks of the user, each removal announced to its owner), through each
  domain's ``user_deleted`` (the same cascade as a profile deletion: the media ratings go and
  the videos' aggregates are recounted; a review goes with its rating);
- the owner row of a process without profiles;
- the user's audit log, but one record that the erasure happened (``platform.audit``);
- the events of the user still in the outbox, published or not (the feed serves them), and
  the idempotency records the user made or whose stored answer carries their id (but the
  record of this very request, so that a retry replays the answer);
- after the commit: what a domain keeps outside the database (presence).

One ``profilestore.profiles.ProfileErased`` event, carrying the user id only, tells consumers
to do the same. The answer counts the rows removed per domain; a domain served by another
process is erased there (``platform.erasure_remote``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import Integer, String, Table, Uuid, delete, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response

from profilestore.platform import export, registry, rls
from profilestore.platform.access import OWNER_ADMIN_OR_SERVICE_PRIVATE
from profilestore.platform.audit import erase_audit
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.db import Base, UtcDateTime, utcnow
from profilestore.platform.errors import problem_responses
from profilestore.platform.events.outbox import OutboxRow, emit
from profilestore.platform.idempotency import IdempotencyRecord, request_key
from profilestore.platform.owners import Owner, directory
from profilestore.platform.params import UserId
from profilestore.platform.uow import UnitOfWork, UnitOfWorkRoute, Writer

PROFILE_ERASED = "profilestore.profiles.ProfileErased"


class ErasureRequest(Base):
    """An erasure a domain service (federation) has not confirmed yet: tried again until it
    does (``profilestore.hub.privacy``), then deleted."""

    __tablename__ = "erasure_requests"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service: Mapped[str] = mapped_column(String(255), primary_key=True)
    """The domains the service serves, comma-joined (``PROFILESTORE_HUB_DOMAINS``)."""
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class Outcome:
    status: Literal["erased", "pending"]
    rows: int | None
    error: str | None


class RemoteErasure(Protocol):
    """Erasure in the domain services of a federation (``profilestore.hub.privacy``)."""

    async def erase(
        self, session: AsyncSession, user_id: uuid.UUID, request: Request
    ) -> dict[str, Outcome]: ...


router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["privacy"], route_class=UnitOfWorkRoute)
Eraser = Annotated[Principal, Depends(OWNER_ADMIN_OR_SERVICE_PRIVATE)]


class DomainErasure(BaseModel):
    status: Literal["erased", "pending"] = Field(
        description="`pending`: a domain service that has not confirmed yet (tried again)"
    )
    rows: int | None = Field(None, description="The user's rows removed, where reported")
    error: str | None = Field(None, description="Why a pending domain did not confirm")


class ErasureReport(BaseModel):
    user_id: uuid.UUID
    erased_at: dt.datetime
    domains: dict[str, DomainErasure]


@router.post(
    "/erase",
    response_model=ErasureReport,
    summary="Erase everything every domain holds of the user, and announce it (ProfileErased)",
    description=(
        "One transaction per process: the user's rows in every domain, other users' contacts "
        "and blocks of them, their ratings (the videos' aggregates recounted), their events "
        "still in the outbox and their idempotency records; then one "
        "`profilestore.profiles.ProfileErased` event with the user id only. Idempotent: "
        "erasing again erases what came since (nothing) and announces it again. The owner, "
        "an admin or a service; others get 404."
    ),
    responses={
        202: {
            "model": ErasureReport,
            "description": "Erased here; a domain service has not "
            "confirmed yet (`pending`): it is tried again until it does",
        },
        **problem_responses(401, 404, 422),
    },
)
async def erase_user(request: Request, user_id: UserId, uow: Writer, principal: Eraser) -> Response:
    key = request_key(request)
    keep = (principal.subject, key) if key is not None else None
    remote: RemoteErasure | None = request.app.state.remote_privacy
    outcomes = {} if remote is None else await remote.erase(uow.session, user_id, request)
    if principal.owns(user_id):
        await _reach_every_row(uow.session)
    removed = await erase(uow.session, user_id, keep_key=keep)
    app = request.app

    async def forget(_: UnitOfWork) -> None:
        await registry.forget(app, user_id)

    uow.after_commit(forget)
    here = {name: Outcome("erased", rows, None) for name, rows in removed.items()}
    outcomes = here | outcomes  # a domain named in PROFILESTORE_HUB_DOMAINS is the remote's
    pending = any(outcome.status == "pending" for outcome in outcomes.values())
    return json_response(report(user_id, outcomes, utcnow()), status=202 if pending else 200)


async def erase(
    session: AsyncSession, user_id: uuid.UUID, *, keep_key: tuple[str, str] | None = None
) -> dict[str, int]:
    """Erase the user here (the caller commits); the rows removed per section (domain or
    ``platform``). ``keep_key``: the (caller, key) of the erasing request's own idempotency
    record."""
    await directory().lock(session, user_id)
    removed = {name: await _count(session, tables, user_id) for name, tables in export.sections()}
    await registry.user_deleted(session, user_id)
    await session.execute(delete(Owner).where(Owner.user_id == user_id))
    await session.flush()  # the cascade's own events are in the outbox now
    await _forget_events(session, user_id)
    await _forget_idempotency(session, user_id, keep_key)
    await erase_audit(session, user_id)  # leaves the record that the erasure happened
    emit(
        session,
        event_type=PROFILE_ERASED,
        user_id=user_id,
        aggregatetype="profile",
        data={"user_id": str(user_id)},
    )
    return removed


def report(user_id: uuid.UUID, outcomes: dict[str, Outcome], at: dt.datetime) -> dict[str, Any]:
    domains = {name: asdict(outcome) for name, outcome in outcomes.items()}
    return {"user_id": str(user_id), "erased_at": at, "domains": domains}


async def _reach_every_row(session: AsyncSession) -> None:
    """Row-level security (``platform.rls``): a user erasing themself reaches, for the rest
    of this transaction, the rows of other users that name them (idempotency records), as an
    admin's erasure does. Only for the user named by the route, checked here again."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(rls.SYSTEM.statement()))


async def _count(session: AsyncSession, tables: tuple[Table, ...], user_id: uuid.UUID) -> int:
    total = 0
    for table in tables:
        statement = select(func.count()).select_from(table).where(table.c.user_id == user_id)
        total += (await session.execute(statement)).scalar_one()
    return total


async def _forget_events(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user's own events but earlier tombstones; those of other users that the cascade
    emitted (a contact of the user removed) stay: they are the other users' changes and
    carry only the user's id."""
    mine = OutboxRow.aggregateid == str(user_id)
    await session.execute(delete(OutboxRow).where(mine, OutboxRow.type != PROFILE_ERASED))


async def _forget_idempotency(
    session: AsyncSession, user_id: uuid.UUID, keep_key: tuple[str, str] | None
) -> None:
    text = str(user_id)
    body = IdempotencyRecord.body
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    carries = (
        func.instr(body, text)
        if on_sqlite
        else func.position(literal(text.encode()).op("IN")(body))
    )
    statement = delete(IdempotencyRecord).where(or_(IdempotencyRecord.caller == text, carries > 0))
    if keep_key is not None:
        caller, key = keep_key
        statement = statement.where(
            or_(IdempotencyRecord.caller != caller, IdempotencyRecord.key != key)
        )
    await session.execute(statement)
