"""Sections of the user's aggregate from domains served by other processes (federation).

``PROFILESTORE_HUB_DOMAINS`` names, per section, the base URL of the service that serves it.
For such a section the hub calls ``GET {base}/v1/users/{user_id}/profiles?sections={name}``
on that service (which runs the same aggregate over its own installed domains) with the
caller's bearer token and request id, and takes the section, and whether the service named
it in ``missing``, from the answer. The service applies its own access rules to the
forwarded token, so a private section is null for a stranger there as it is here.

Every call goes through one pooled ``httpx.AsyncClient`` per app (HTTP/1.1 keep-alive; opened
in the app's lifespan), at most ``PER_DOMAIN_CALLS`` in flight per domain so that a hung
domain cannot take the pool from the others, and a circuit breaker per domain: after
``hub_breaker_failures`` failures or timeouts in a row the domain is skipped (``unavailable``
at once) for ``hub_breaker_cool_down_seconds``, then one probe call decides.

A failure never fails the aggregate; it becomes the section's error code:

=====================  ================================================  ===============
what happened          code in ``errors``                                breaker
=====================  ================================================  ===============
budget exceeded        ``timeout``                                       failure
refused, reset, 5xx,   ``unavailable``                                   failure
bad JSON, no section,
other 4xx
breaker open           ``unavailable`` (no call made)                    (skipped)
401                    ``unauthorized`` (the service refused the token)  success
403                    ``forbidden``                                     success
429                    ``too-many-requests`` (the service's rate limit)  success
404                    none: the service does not know the user, so it   success
                       holds nothing of them: null and in ``missing``
the section failed     the service's own code for it                     success
there
=====================  ================================================  ===============
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter, Histogram
from starlette.requests import Request

from profilestore import __version__
from profilestore.platform.breaker import CircuitBreaker
from profilestore.platform.http import BEARER_TOKEN
from profilestore.platform.jsonutil import loads
from profilestore.settings import Settings

log = logging.getLogger(__name__)

PER_DOMAIN_CALLS = 64
"""Calls in flight to one domain service (and its share of the client's connection pool)."""
PER_DOMAIN_IDLE = 32
"""Idle keep-alive connections kept per domain service."""
MAX_ANSWER_BYTES = 1024 * 1024
SECTIONS_PARAMETER = "sections"
_CODE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")

REMOTE_SECONDS = Histogram(
    "profilestore_hub_remote_duration_seconds",
    "Latency of the hub's calls to a domain served elsewhere (calls made, whatever the outcome)",
    ["domain"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REMOTE_OUTCOMES = Counter(
    "profilestore_hub_remote_calls_total",
    "The hub's calls to domains served elsewhere by outcome: ok, missing, not_found, "
    "part_error, timeout, unavailable, skipped (circuit open), unauthorized, forbidden, "
    "rate_limited",
    ["domain", "outcome"],
)


@dataclass(frozen=True)
class Forward:
    """What the hub passes on to a domain service: the bearer token the request pipeline
    verified for this request (never an unverified header) and the request id."""

    token: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, request: Request) -> Forward:
        state = request.scope.get("state", {})
        return cls(state.get(BEARER_TOKEN), state.get("request_id"))

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if self.request_id:
            headers["x-request-id"] = self.request_id
        return headers


@dataclass(frozen=True)
class Section:
    """One section's outcome: its value, or the error code that stands for its failure;
    ``missing``: the domain holds nothing of the user."""

    value: dict[str, Any] | None
    error: str | None = None
    missing: bool = False


class _BadAnswer(Exception):
    pass


class RemoteDomain:
    """One section served elsewhere: its URL, its breaker, its share of the pool."""

    def __init__(self, name: str, base: str, settings: Settings) -> None:
        self.name = name
        self.base = base
        self.breaker = CircuitBreaker(
            f"hub:{name}",
            failures_to_open=settings.hub_breaker_failures,
            cool_down_seconds=settings.hub_breaker_cool_down_seconds,
        )
        self._gate: asyncio.Semaphore | None = None
        self._seconds = REMOTE_SECONDS.labels(name)

    def _outcome(self, outcome: str) -> None:
        REMOTE_OUTCOMES.labels(self.name, outcome).inc()

    async def load(
        self, client: httpx.AsyncClient, user_id: uuid.UUID, forward: Forward, deadline: float
    ) -> Section:
        """The section, by ``deadline`` (the event loop's clock), or the code of its failure."""
        if not self.breaker.allow():
            self._outcome("skipped")
            return Section(None, "unavailable")
        probe = self.breaker.is_open  # let through while open: this call is the probe
        if self._gate is None:
            self._gate = asyncio.Semaphore(PER_DOMAIN_CALLS)
        started = time.perf_counter()
        try:
            async with asyncio.timeout_at(deadline), self._gate:
                response = await client.get(
                    f"{self.base}/v1/users/{user_id}/profiles",
                    params={SECTIONS_PARAMETER: self.name},
                    headers=forward.headers(),
                )
        except (TimeoutError, httpx.TimeoutException):
            return self._failed(started, "timeout", "timeout")
        except httpx.HTTPError as exc:
            log.warning("hub: %s at %s: %s", self.name, self.base, type(exc).__name__)
            return self._failed(started, "unavailable", "unavailable")
        except asyncio.CancelledError:
            if probe:
                self.breaker.abandon()
            raise
        self._seconds.observe(time.perf_counter() - started)
        return self._answer(response)

    def _failed(self, started: float, code: str, outcome: str) -> Section:
        self._seconds.observe(time.perf_counter() - started)
        self.breaker.failure()
        self._outcome(outcome)
        return Section(None, code)

    def _answer(self, response: httpx.Response) -> Section:
        status = response.status_code
        if status == 200:
            try:
                return self._section(response)
            except _BadAnswer as exc:
                log.warning("hub: %s at %s answered badly: %s", self.name, self.base, exc)
                self.breaker.failure()
                self._outcome("unavailable")
                return Section(None, "unavailable")
        refused = _REFUSALS.get(status)
        if refused is not None:
            code, outcome = refused
            self.breaker.success()
            self._outcome(outcome)
            return Section(None, code, missing=code is None)
        if status < 500:
            log.warning("hub: %s at %s answered %d", self.name, self.base, status)
        self.breaker.failure()
        self._outcome("unavailable")
        return Section(None, "unavailable")

    def _section(self, response: httpx.Response) -> Section:
        if len(response.content) > MAX_ANSWER_BYTES:
            raise _BadAnswer(f"answer of {len(response.content)} bytes")
        try:
            body = loads(response.content)
        except ValueError as exc:
            raise _BadAnswer("not JSON") from exc
        if not isinstance(body, dict) or self.name not in body:
            raise _BadAnswer(f"no {self.name!r} section (is the domain served there?)")
        value = body[self.name]
        if value is not None and not isinstance(value, dict):
            raise _BadAnswer(f"{self.name!r} is not an object")
        self.breaker.success()
        failed = [
            e.get("code")
            for e in body.get("errors") or ()
            if isinstance(e, dict) and e.get("domain") == self.name
        ]
        if failed:
            self._outcome("part_error")
            code = failed[0]
            return Section(None, code if isinstance(code, str) and _CODE.match(code) else "error")
        missing = self.name in (body.get("missing") or ())
        self._outcome("missing" if missing else "ok")
        return Section(value, missing=missing and value is None)


_REFUSALS: dict[int, tuple[str | None, str]] = {
    401: ("unauthorized", "unauthorized"),
    403: ("forbidden", "forbidden"),
    404: (None, "not_found"),
    429: ("too-many-requests", "rate_limited"),
}
"""Answers that refuse this caller or this user, from a service that is up: (error code or
None for "missing", metric outcome)."""


class Remotes:
    """The app's domains served elsewhere, and the one pooled client that calls them
    (``app.state.hub_remotes``)."""

    def __init__(self, settings: Settings) -> None:
        self.domains = {
            name: RemoteDomain(name, base, settings) for name, base in settings.hub_domains.items()
        }
        self._timeout = settings.hub_timeout_ms / 1000
        self._client: httpx.AsyncClient | None = None

    @property
    def bases(self) -> dict[str, str]:
        """Section name → base URL of the service serving it."""
        return {name: domain.base for name, domain in self.domains.items()}

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled client (opened on first use if the lifespan did not open it)."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self) -> httpx.AsyncClient:
        count = max(1, len(self.domains))
        return httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=PER_DOMAIN_CALLS * count,
                max_keepalive_connections=PER_DOMAIN_IDLE * count,
                keepalive_expiry=30.0,
            ),
            # The budget is applied per aggregate (asyncio); this only bounds a stray call.
            timeout=httpx.Timeout(self._timeout + 1.0),
            headers={"accept": "application/json", "user-agent": f"profilestore-hub/{__version__}"},
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def install(app: Any, settings: Settings) -> None:
    """Put the app's remote domains on ``app.state.hub_remotes`` (the app factory calls it)."""
    app.state.hub_remotes = Remotes(settings)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Open the pooled client while the app serves (when any domain is remote); close it after."""
    remotes: Remotes = app.state.hub_remotes
    if remotes.domains:
        _ = remotes.client
    try:
        yield
    finally:
        await remotes.aclose()
