"""The request's unit of work: one write transaction, the events it wrote to the outbox, and
what must happen around its commit (cache invalidation, waking the relay).

A write route depends on ``Writer`` and hands ``uow.session`` to its services; neither calls
``commit()``. The route class ``UnitOfWorkRoute`` commits once, after the handler has built its
response from what the services returned, so a response is only ever sent for a committed
change. Anything that raises before that rolls the whole transaction back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from profilestore.platform import audit
from profilestore.platform.cache import STALE_KEYS
from profilestore.platform.conditional import REQUIRE_IF_MATCH

log = structlog.get_logger("profilestore.uow")
Hook = Callable[["UnitOfWork"], Awaitable[None]]
STATE_KEY = "unit_of_work"
SETTINGS = "settings"
"""Key in a write session's ``info``: the app's settings, for rules a service reads from them."""


class UnitOfWork:
    """A write session plus the hooks that run just before and just after its commit."""

    def __init__(self, session: AsyncSession, request: Request) -> None:
        self.session = session
        self.request = request
        self.response: Response | None = None
        self.committed = False
        self.shared = False
        self._before_commit: list[Hook] = []
        self._after_commit: list[Hook] = []
        self._on_failure: list[Hook] = []

    def before_commit(self, hook: Hook) -> None:
        """Run ``hook`` inside the transaction, once the response is known. A failure rolls
        the write back (and is answered as any error is)."""
        self._before_commit.append(hook)

    def after_commit(self, hook: Hook) -> None:
        """Run ``hook`` after the commit; a failure is logged, the write stands."""
        self._after_commit.append(hook)

    def on_failure(self, hook: Hook) -> None:
        """Run ``hook`` if the write does not commit (the handler or the commit raised): to undo
        a change made outside the database (e.g. in Redis) that the transaction stood for."""
        self._on_failure.append(hook)

    async def failed(self) -> None:
        for hook in self._on_failure:
            try:
                await hook(self)
            except Exception as exc:
                log.warning("on_failure_failed", hook=_name(hook), error=type(exc).__name__)

    def invalidate(self, *keys: str) -> None:
        """Drop cache keys this write makes stale: before the commit (a cache that cannot be
        reached fails the write with 503, changing nothing) and again after it (closing the
        window in which a concurrent read refilled the old value)."""
        cache = self.request.app.state.cache

        async def drop(_: UnitOfWork) -> None:
            await cache.invalidate(*keys)

        self.before_commit(drop)
        self.after_commit(drop)

    async def commit(self, response: Response) -> None:
        self.response = response
        stale = self.session.info.get(STALE_KEYS)
        if stale:
            self.invalidate(*sorted(stale))
        for hook in self._before_commit:
            await hook(self)
        await self.session.commit()
        self.committed = True
        for hook in self._after_commit:
            try:
                await hook(self)
            except Exception as exc:  # the write is committed; TTLs bound any staleness
                log.warning("after_commit_failed", hook=_name(hook), error=type(exc).__name__)
        relay = getattr(self.request.app.state, "relay", None)
        if relay is not None and self.session.info.get("emitted"):
            relay.wakeup.set()


def _unit_of_work(request: Request) -> UnitOfWork | None:
    found: UnitOfWork | None = request.scope.get("state", {}).get(STATE_KEY)
    return found


def _name(hook: Hook) -> str:
    return getattr(hook, "__qualname__", type(hook).__name__)


@asynccontextmanager
async def background_work(db: Any) -> AsyncIterator[AsyncSession]:
    """A unit of work outside any request (a sweeper, a job): the session its services write
    through commits once, when the block ends without an error (else nothing is kept)."""
    async with db.write_session() as session:
        yield session
        await session.commit()


UnitOfWorkFactory = Callable[[UnitOfWork], Awaitable[None]]
_starters: list[UnitOfWorkFactory] = []


def on_begin(starter: UnitOfWorkFactory) -> None:
    """Register a platform step run at the start of every unit of work (e.g. Idempotency-Key)."""
    if starter not in _starters:
        _starters.append(starter)


SHARED_KEY = "shared_unit_of_work"
"""Key in the request state: a unit of work that several route calls write through (the
GraphQL onboarding mutation); its owner commits it once, the routes do not."""


@asynccontextmanager
async def open_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """A unit of work outside a route (its owner calls ``commit``), to hand to route calls
    through ``SHARED_KEY``; nothing is kept unless it commits."""
    async with request.app.state.db.write_session() as session:
        uow = UnitOfWork(session, request)
        _prepare(uow)
        uow.shared = True
        yield uow


def _prepare(uow: UnitOfWork) -> None:
    settings = uow.request.app.state.settings
    uow.session.info["event_options"] = uow.request.app.state.event_options
    uow.session.info[REQUIRE_IF_MATCH] = settings.require_if_match
    uow.session.info[SETTINGS] = settings
    audit.act_as(uow.session, audit.request_actor(uow.request))


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    state = request.scope.setdefault("state", {})
    shared: UnitOfWork | None = state.get(SHARED_KEY)
    if shared is not None:
        state[STATE_KEY] = shared
        yield shared
        return
    async with request.app.state.db.write_session() as session:
        uow = UnitOfWork(session, request)
        _prepare(uow)
        state[STATE_KEY] = uow
        for starter in _starters:
            await starter(uow)
        yield uow


Writer = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]


class UnitOfWorkRoute(APIRoute):
    """Commits the request's unit of work (if it opened one) once the handler has answered."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                uow = _unit_of_work(request)
                if uow is not None and not uow.committed and not uow.shared:
                    await uow.commit(response)
            except BaseException:
                uow = _unit_of_work(request)
                if uow is not None and not uow.committed and not uow.shared:
                    await uow.failed()
                raise
            return response

        return handle
