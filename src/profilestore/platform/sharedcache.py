"""The shared cache tier: Redis, read and filled by every replica.

A miss answers with a ticket: Redis's own clock (microseconds) when the miss was seen, so
every replica's tickets and drops are on one clock. An invalidation deletes the key, leaves a
short-lived mark of when (``t:<key>``) and publishes the keys on the invalidation channel, in
one script; a fill is refused when the key was marked at or after its ticket, or when the
ticket is older than the guard (a read that slow may have seen anything). So a value read
before a change can never be stored after that change's invalidation.

Redis is never the source of truth: a failing or hung Redis makes reads misses (fast, once the
circuit is open) and never fails them; an invalidation that cannot be made raises.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from profilestore.platform.breaker import CircuitBreaker
from profilestore.platform.cache import CacheUnavailable

log = structlog.get_logger("profilestore.cache")

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000000 + t[2] "
GET_OR_TICKET = (
    "local value = redis.call('GET', KEYS[1]) if value then return value end " + _NOW + "return now"
)
GET_MANY_OR_TICKET = (
    _NOW
    + "local values = redis.call('MGET', unpack(KEYS)) "
    + "for i = 1, #values do if not values[i] then values[i] = now end end return values"
)
FILL = (
    _NOW
    + "local ticket = tonumber(ARGV[3]) "
    + "if now - ticket > tonumber(ARGV[4]) then return 0 end "
    + "local dropped = redis.call('GET', KEYS[2]) "
    + "if dropped and tonumber(dropped) >= ticket then return 0 end "
    + "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1"
)
INVALIDATE = (
    _NOW
    + "for i = 1, #KEYS, 2 do redis.call('DEL', KEYS[i]) "
    + "redis.call('SET', KEYS[i + 1], string.format('%.0f', now), 'PX', ARGV[1]) end "
    + "return redis.call('PUBLISH', ARGV[2], ARGV[3])"
)


def channel_name(prefix: str) -> str:
    return f"{prefix}invalidations"


class SharedCache:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        timeout_seconds: float = 0.25,
        guard_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry_on_timeout=False,
        )
        self.prefix = prefix
        self.channel = channel_name(prefix)
        self.timeout_seconds = timeout_seconds
        self._guard_microseconds = int(guard_seconds * 1_000_000)
        self._guard_milliseconds = int(guard_seconds * 1000) + 1
        self.breaker = CircuitBreaker("redis-cache")
        self._get = self.redis.register_script(GET_OR_TICKET)
        self._get_many = self.redis.register_script(GET_MANY_OR_TICKET)
        self._fill = self.redis.register_script(FILL)
        self._invalidate = self.redis.register_script(INVALIDATE)

    async def get(self, key: str) -> bytes | int | None:
        """The value, or the miss's ticket, or None when Redis cannot be asked."""
        if not self.breaker.allow():
            return None
        try:
            answer = await self._get(keys=[self.prefix + key])
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        self.breaker.success()
        return answer if isinstance(answer, bytes | int) else None

    async def get_many(self, keys: list[str]) -> dict[str, bytes | int | None]:
        if not self.breaker.allow():
            return dict.fromkeys(keys)
        try:
            answers = await self._get_many(keys=[self.prefix + key for key in keys])
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return dict.fromkeys(keys)
        self.breaker.success()
        return dict(zip(keys, answers, strict=True))

    async def fill(self, key: str, value: bytes, ttl_seconds: float, ticket: int) -> bool:
        """Store ``value`` unless ``key`` was dropped since ``ticket``; whether it was stored."""
        if not self.breaker.allow():
            return False
        ttl = max(1, int(ttl_seconds * 1000))
        try:
            stored = await self._fill(
                keys=[self.prefix + key, self._mark(key)],
                args=[value, ttl, ticket, self._guard_microseconds],
            )
        except (RedisError, OSError) as exc:
            self._failed("fill", exc)
            return False
        self.breaker.success()
        return bool(stored)

    async def invalidate(self, keys: Iterable[str]) -> None:
        """Drop ``keys`` everywhere; raises (the write answers 503) when that cannot be done."""
        keys = list(keys)
        if not self.breaker.allow():
            raise CacheUnavailable("redis circuit open")
        pairs = [name for key in keys for name in (self.prefix + key, self._mark(key))]
        try:
            await self._invalidate(
                keys=pairs, args=[self._guard_milliseconds, self.channel, "\n".join(keys)]
            )
        except (RedisError, OSError) as exc:
            self._failed("invalidate", exc)
            raise CacheUnavailable(f"redis: {type(exc).__name__}") from exc
        self.breaker.success()

    def _mark(self, key: str) -> str:
        return f"{self.prefix}t:{key}"

    def _failed(self, op: str, exc: Exception) -> None:
        self.breaker.failure()
        log.warning("cache_unavailable", op=op, error=type(exc).__name__)

    @staticmethod
    def redis_of(cache: object) -> Redis:
        """The Redis client behind a cache's shared tier (for tests and tools)."""
        shared = getattr(cache, "shared", None)
        if not isinstance(shared, SharedCache):
            raise TypeError("this cache has no shared tier")
        redis: Redis = shared.redis
        return redis

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
