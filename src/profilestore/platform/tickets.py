"""Stream tickets: browsers' ``EventSource`` cannot send an Authorization header, and a token
in a URL ends up in logs and histories. A signed-in caller asks for a ticket
(``POST /v1/stream-tickets``): a random, single-use string valid for a few seconds that stands
for the caller on one stream request (``?ticket=``). Only its digest is stored (Redis when
configured, so any replica can redeem it; else this process's memory)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from redis.asyncio import Redis
from starlette.responses import Response

from profilestore.platform.access import SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import problem_responses
from profilestore.platform.jsonutil import dumps, loads
from profilestore.platform.uow import UnitOfWorkRoute, Writer

TICKET_PARAMETER = "ticket"


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _encode(principal: Principal) -> bytes:
    user_id = str(principal.user_id) if principal.user_id is not None else None
    return dumps({"sub": principal.subject, "uid": user_id, "roles": sorted(principal.roles)})


def _decode(value: bytes) -> Principal:
    data = loads(value)
    user_id = uuid.UUID(data["uid"]) if data["uid"] else None
    return Principal(subject=data["sub"], user_id=user_id, roles=frozenset(data["roles"]))


class StreamTickets:
    def __init__(self, redis_url: str | None, prefix: str, ttl_seconds: float, timeout: float):
        self.ttl_seconds = ttl_seconds
        self._prefix = f"{prefix}ticket:"
        self._redis: Redis | None = (
            Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
            if redis_url
            else None
        )
        self._memory: dict[str, tuple[float, bytes]] = {}

    async def issue(self, principal: Principal) -> str:
        ticket = secrets.token_urlsafe(32)
        value = _encode(principal)
        if self._redis is not None:
            await self._redis.set(
                self._prefix + _digest(ticket), value, px=int(self.ttl_seconds * 1000)
            )
        else:
            self._forget_expired()
            self._memory[_digest(ticket)] = (time.monotonic() + self.ttl_seconds, value)
        return ticket

    async def redeem(self, ticket: str) -> Principal | None:
        """The caller the ticket stands for, once; None if unknown, used or expired."""
        if not ticket or len(ticket) > 128:
            return None
        key = _digest(ticket)
        value: Any
        if self._redis is not None:
            value = await self._redis.getdel(self._prefix + key)
        else:
            entry = self._memory.pop(key, None)
            value = entry[1] if entry is not None and entry[0] > time.monotonic() else None
        return _decode(value) if isinstance(value, bytes) else None

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for key in [key for key, (expires, _) in self._memory.items() if expires <= now]:
            del self._memory[key]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


router = APIRouter(prefix="/v1", tags=["streams"], route_class=UnitOfWorkRoute)


class StreamTicket(BaseModel):
    ticket: str
    expires_in: float


@router.post(
    "/stream-tickets",
    status_code=201,
    response_model=StreamTicket,
    summary="A single-use ticket that stands for the caller on one stream request (?ticket=)",
    responses=problem_responses(401, 503),
)
async def issue_ticket(
    request: Request, principal: Annotated[Principal, Depends(SIGNED_IN)], _: Writer
) -> Response:
    """In a unit of work like every write, so an Idempotency-Key retry gets the same ticket
    back (still single-use)."""
    tickets: StreamTickets = request.app.state.stream_tickets
    ticket = await tickets.issue(principal)
    body = {"ticket": ticket, "expires_in": tickets.ttl_seconds}
    return json_response(body, status=201, headers={"Cache-Control": "no-store"})
