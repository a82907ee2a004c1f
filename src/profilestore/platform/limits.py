"""Request rate limits, with the ``limits`` library (sliding window counters).

Who is counted: a signed-in caller by their token's subject, in the quota of their kind (user,
admin, service) and of the request's class (``read``, ``write``, or ``lookup`` for look-ups that
reveal whether someone exists); a request without a valid token by its client IP. Counters live
in Redis when it is configured (shared by every replica) and in this process otherwise; when
Redis fails, the in-process counters take over (never a 5xx), behind a circuit breaker.

With Redis, a busy caller does not cost a Redis round trip per request: a process takes a
slice of the caller's quota at once and spends it locally for at most ``LEASE_SECONDS``. The
slice starts at one request and doubles each time the previous one was spent (up to
1/``LEASE_SHARE`` of the quota), and shrinks to what was used when one expires unspent; so a
caller is never let through more than its quota, and is refused early by at most the unspent
slices of its last second.

Every ``/v1`` answer carries ``RateLimit-Policy`` and ``RateLimit`` (IETF httpapi
ratelimit-headers draft); a refusal is 429 problem+json with ``Retry-After``."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.exceptions import RedisError

from profilestore.platform.auth import Principal
from profilestore.platform.breaker import CircuitBreaker
from profilestore.platform.errors import ProblemError
from profilestore.settings import Settings

log = structlog.get_logger("profilestore.limits")
REFUSED = Counter("profilestore_rate_limited_total", "Requests refused by a rate limit", ["policy"])
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LEASE_SHARE = 100
"""A slice is 1/LEASE_SHARE of the quota (a 6000/min quota: 60 requests per Redis trip)."""
LEASE_SECONDS = 1.0
MAX_LEASES = 10_000


@dataclass(slots=True)
class _Lease:
    """Requests this process may still admit for one caller without asking Redis."""

    size: int
    left: int
    expires: float
    remaining: int
    reset_seconds: int
    refused: bool = False
    """The caller is over its quota: refuse locally until the lease expires."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    policy: str
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        window = 60
        return [
            (b"ratelimit-policy", f'"{self.policy}";q={self.limit};w={window}'.encode()),
            (b"ratelimit", f'"{self.policy}";r={self.remaining};t={self.reset_seconds}'.encode()),
        ]

    def problem(self) -> ProblemError:
        return ProblemError(
            429,
            "too-many-requests",
            f"Rate limit '{self.policy}' ({self.limit} per minute) reached; retry in "
            f"{self.reset_seconds} s.",
            headers={"Retry-After": str(max(1, self.reset_seconds))},
        )


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self._quotas = {
            "user-read": settings.rate_limit_per_minute,
            "user-write": settings.rate_limit_writes_per_minute,
            "user-lookup": settings.rate_limit_lookups_per_minute,
            "admin": settings.rate_limit_admin_per_minute,
            "service": settings.rate_limit_service_per_minute,
            "ip": settings.rate_limit_ip_per_minute,
        }
        self._items: dict[str, RateLimitItem] = {
            policy: RateLimitItemPerMinute(quota, namespace=f"rl-{policy}")
            for policy, quota in self._quotas.items()
        }
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._shared: SlidingWindowCounterRateLimiter | None = None
        self.breaker = CircuitBreaker("redis-rate-limits")
        if settings.redis_url:
            storage: Storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=f"{settings.cache_prefix}rl",
                socket_timeout=settings.redis_timeout_seconds,
                socket_connect_timeout=settings.redis_timeout_seconds,
            )
            self._shared = SlidingWindowCounterRateLimiter(storage)

    @staticmethod
    def policy_for(principal: Principal | None, method: str, lookup: bool = False) -> str:
        if principal is None:
            return "ip"
        if principal.is_service:
            return "service"
        if principal.is_admin:
            return "admin"
        if lookup:
            return "user-lookup"
        return "user-read" if method in READ_METHODS else "user-write"

    async def hit(self, policy: str, identity: str) -> Decision:
        """Count one request of ``identity`` against ``policy``."""
        item = self._items[policy]
        limiter = self._shared if self._shared is not None and self.breaker.allow() else None
        if limiter is not None:
            leased = self._from_lease(policy, identity, item)
            if leased is not None:
                if not leased.allowed:
                    REFUSED.labels(policy).inc()
                return leased
            try:
                decision = await self._take_slice(limiter, item, policy, identity)
            except (StorageError, RedisError, OSError, TimeoutError) as exc:
                self.breaker.failure()
                log.warning("rate_limit_storage_unavailable", error=type(exc).__name__)
            else:
                self.breaker.success()
                return decision
        return await self._take_slice(self._memory, item, policy, identity, leased=False)

    def _from_lease(self, policy: str, identity: str, item: RateLimitItem) -> Decision | None:
        lease = self._leases.get((policy, identity))
        if lease is None or lease.expires < time.monotonic():
            return None
        if lease.refused:
            return Decision(False, policy, item.amount, 0, lease.reset_seconds)
        if lease.left <= 0:
            return None
        lease.left -= 1
        lease.remaining = max(0, lease.remaining - 1)
        return Decision(True, policy, item.amount, lease.remaining, lease.reset_seconds)

    def _next_slice(self, policy: str, identity: str, item: RateLimitItem) -> int:
        cap = max(1, item.amount // LEASE_SHARE)
        previous = self._leases.get((policy, identity))
        if previous is None or previous.refused:
            return 1
        if previous.left <= 0:
            return min(cap, previous.size * 2)
        return max(1, previous.size - previous.left)

    async def _take_slice(
        self,
        limiter: SlidingWindowCounterRateLimiter,
        item: RateLimitItem,
        policy: str,
        identity: str,
        *,
        leased: bool = True,
    ) -> Decision:
        """Count this request and, ``leased``, take the next ones' slice from the counter."""
        size = self._next_slice(policy, identity, item) if leased else 1
        allowed = size > 1 and await limiter.hit(item, identity, cost=size)
        if not allowed:
            size = 1
            allowed = await limiter.hit(item, identity)
        stats = await limiter.get_window_stats(item, identity)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        remaining = max(0, stats.remaining + size - 1)  # the slice's rest is not spent yet
        if leased and (size > 1 or not allowed or size < max(1, item.amount // LEASE_SHARE)):
            if len(self._leases) >= MAX_LEASES:
                self._leases.clear()
            lease = _Lease(size, size - 1, time.monotonic() + LEASE_SECONDS, remaining, reset)
            lease.refused = not allowed
            self._leases[(policy, identity)] = lease
        if not allowed:
            REFUSED.labels(policy).inc()
        return Decision(allowed, policy, item.amount, remaining, reset)


STATE_KEY = "rate_limit"


async def limit_lookup(request: Request) -> None:
    """Count a look-up that reveals whether someone exists (username search) against the
    stricter ``lookup`` quota; users only (admins and services have their own quotas)."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    state = request.scope.setdefault("state", {})
    principal: Principal | None = state.get("principal")
    if limits is None or not limits.enabled or principal is None:
        return
    if principal.is_admin or principal.is_service:
        return
    decision = await limits.hit("user-lookup", principal.subject)
    state[STATE_KEY] = decision
    if not decision.allowed:
        raise decision.problem()
