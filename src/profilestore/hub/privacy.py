"""Export and erasure across services (federation): the hub's ``GET .../export`` and
``POST .../erase`` reach every domain served by another process (``PROFILESTORE_HUB_DOMAINS``).

- Export: each service's own export document is streamed through as it arrives, under
  ``services`` (keyed by the service's domains, comma-joined), never parsed or held whole; a
  service that cannot answer gets ``{"error": code}`` and its key in ``incomplete``, and one
  that fails half-way aborts the stream (a truncated document is never passed off as whole).
- Erasure: each service's ``POST .../erase`` with the caller's token, tried a few times within
  the call; one that does not confirm is written down (``erasure_requests``, in the erasing
  transaction) and tried again in the background with a service token, its delay doubling,
  until it confirms.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from profilestore.hub.remote import Forward, Remotes
from profilestore.platform.auth import SERVICE, mint_token, signing_secret
from profilestore.platform.db import utcnow
from profilestore.platform.erasure import ErasureRequest, Outcome
from profilestore.platform.jsonutil import dumps, loads
from profilestore.settings import Settings

log = structlog.get_logger("profilestore.hub.privacy")

ATTEMPTS = 3
"""Calls to a service within one erasure request before it is left to the background."""
BACKOFF_SECONDS = (0.2, 1.0)
MAX_DELAY = dt.timedelta(hours=1)
HUB_SUBJECT = "profilestore-hub"


@dataclass(frozen=True)
class Service:
    """One process serving some of the hub's remote domains."""

    key: str
    base: str
    domains: tuple[str, ...]


def services(remotes: Remotes) -> list[Service]:
    by_base: dict[str, list[str]] = {}
    for name, domain in remotes.domains.items():
        by_base.setdefault(domain.base, []).append(name)
    return [Service(",".join(names), base, tuple(names)) for base, names in by_base.items()]


class RemotePrivacy:
    """``app.state.remote_privacy``: what the platform's privacy routes call when some
    domains are served elsewhere."""

    def __init__(self, remotes: Remotes, settings: Settings) -> None:
        self.remotes = remotes
        self.settings = settings
        self.timeout = settings.hub_privacy_timeout_seconds

    @property
    def services(self) -> list[Service]:
        return services(self.remotes)

    async def export(self, user_id: uuid.UUID, request: Request) -> AsyncIterator[bytes]:
        """The members ``"services":{...},"incomplete":[...]`` of the export document."""
        incomplete: list[str] = []
        headers = Forward.of(request).headers()
        yield b'"services":{'
        for number, service in enumerate(self.services):
            yield (b"," if number else b"") + dumps(service.key) + b":"
            async for chunk in self._export_of(service, user_id, headers, incomplete):
                yield chunk
        yield b'},"incomplete":' + dumps(incomplete)

    async def _export_of(
        self, service: Service, user_id: uuid.UUID, headers: dict[str, str], failed: list[str]
    ) -> AsyncIterator[bytes]:
        url = f"{service.base}/v1/profiles/{user_id}/export"
        started = False
        try:
            async with self.remotes.client.stream(
                "GET", url, headers=headers, timeout=self.timeout
            ) as response:
                if response.status_code != 200:
                    failed.append(service.key)
                    yield dumps({"error": _code(response.status_code)})
                    return
                async for chunk in response.aiter_bytes():
                    started = True
                    yield chunk
        except httpx.HTTPError as exc:
            if started:
                raise  # half a document: abort rather than pass it off as whole
            log.warning("export_unavailable", service=service.key, error=type(exc).__name__)
            failed.append(service.key)
            code = "timeout" if isinstance(exc, httpx.TimeoutException) else "unavailable"
            yield dumps({"error": code})

    async def erase(
        self, session: AsyncSession, user_id: uuid.UUID, request: Request
    ) -> dict[str, Outcome]:
        """Erase the user in every service (concurrently); a service that does not confirm
        is written down in ``session`` for the background retries."""
        headers = Forward.of(request).headers()
        found = await asyncio.gather(
            *(self._erase_at(service, user_id, headers) for service in self.services)
        )
        outcomes: dict[str, Outcome] = {}
        for service, (answer, error) in zip(self.services, found, strict=True):
            if error is not None:
                await _remember(session, user_id, service, error)
            outcomes.update(_outcomes(service, answer, error))
        return outcomes

    async def _erase_at(
        self, service: Service, user_id: uuid.UUID, headers: dict[str, str]
    ) -> tuple[dict[str, Any] | None, str | None]:
        error: str | None = "unavailable"
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
            answer, error = await self._call_erase(service, user_id, headers)
            if error is None or error in ("unauthorized", "forbidden"):
                return answer, error
        return None, error

    async def _call_erase(
        self, service: Service, user_id: uuid.UUID, headers: dict[str, str]
    ) -> tuple[dict[str, Any] | None, str | None]:
        url = f"{service.base}/v1/profiles/{user_id}/erase"
        try:
            response = await self.remotes.client.post(url, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException:
            return None, "timeout"
        except httpx.HTTPError as exc:
            log.warning("erase_unavailable", service=service.key, error=type(exc).__name__)
            return None, "unavailable"
        if response.status_code != 200:
            return None, _code(response.status_code)
        try:
            body = loads(response.content)
        except ValueError:
            return None, "unavailable"
        return (body, None) if isinstance(body, dict) else (None, "unavailable")

    async def retry_due(self, db: Any) -> int:
        """Try the written-down erasures that are due; the number confirmed."""
        token = self._service_token()
        if token is None:
            return 0
        headers = {"authorization": f"Bearer {token}"}
        bases = {service.key: service for service in self.services}
        confirmed = 0
        async with db.write_session() as session:
            due = select(ErasureRequest).where(ErasureRequest.next_attempt_at <= utcnow())
            for row in (await session.execute(due.limit(100))).scalars().all():
                service = bases.get(row.service)
                error = "unconfigured" if service is None else None
                if service is not None:
                    _, error = await self._call_erase(service, row.user_id, headers)
                if error is None:
                    await session.delete(row)
                    confirmed += 1
                else:
                    _postpone(row, error, self.settings.hub_erasure_retry_seconds)
            await session.commit()
        return confirmed

    def _service_token(self) -> str | None:
        if signing_secret(self.settings) is None:
            log.warning("erasure_retry_without_token", detail="no signing secret to mint one")
            return None
        return mint_token(self.settings, HUB_SUBJECT, [SERVICE], ttl_seconds=300)


def _code(status: int) -> str:
    return {401: "unauthorized", 403: "forbidden", 429: "too-many-requests"}.get(
        status, "unavailable"
    )


def _outcomes(
    service: Service, answer: dict[str, Any] | None, error: str | None
) -> dict[str, Outcome]:
    if error is not None or answer is None:
        return {name: Outcome("pending", None, error) for name in service.domains}
    reported = answer.get("domains") or {}
    return {name: Outcome("erased", _rows(reported.get(name)), None) for name in service.domains}


def _rows(part: object) -> int | None:
    rows = part.get("rows") if isinstance(part, dict) else None
    return rows if isinstance(rows, int) else None


async def _remember(
    session: AsyncSession, user_id: uuid.UUID, service: Service, error: str
) -> None:
    row = await session.get(ErasureRequest, (user_id, service.key))
    now = utcnow()
    if row is None:
        row = ErasureRequest(user_id=user_id, service=service.key, requested_at=now, attempts=0)
        session.add(row)
    row.attempts += ATTEMPTS
    row.last_error = error
    row.next_attempt_at = now


def _postpone(row: ErasureRequest, error: str, first_delay: float) -> None:
    row.attempts += 1
    row.last_error = error
    delay = dt.timedelta(seconds=first_delay * 2 ** min(row.attempts - ATTEMPTS, 16))
    row.next_attempt_at = utcnow() + min(delay, MAX_DELAY)


def install(app: Any, settings: Settings) -> None:
    remotes: Remotes = app.state.hub_remotes
    app.state.remote_privacy = RemotePrivacy(remotes, settings) if remotes.domains else None


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Retry the erasures remote services have not confirmed, while the app serves."""
    privacy: RemotePrivacy | None = app.state.remote_privacy
    if privacy is None:
        yield
        return
    task = asyncio.create_task(_retry_forever(privacy, app.state.db))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _retry_forever(privacy: RemotePrivacy, db: Any) -> None:
    pause = min(privacy.settings.hub_erasure_retry_seconds, 5.0)
    while True:
        try:
            await privacy.retry_due(db)
        except Exception as exc:  # a database hiccup: try again later
            log.warning("erasure_retry_failed", error=type(exc).__name__)
        await asyncio.sleep(pause)
