"""Caches: in-process (embedded, one process) or Redis (shared by every replica). Values are
bytes; callers invalidate after their transaction commits. A cache failure degrades to a miss."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from profilestore.platform.breaker import CircuitBreaker

log = structlog.get_logger("profilestore.cache")
CACHE_REQUESTS = Counter(
    "profilestore_cache_requests_total",
    "Cache look-ups by cache name and result",
    ["cache", "result"],
)


class Cache(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A bounded LRU with expiry, for the single-process embedded default."""

    name = "memory"

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()


class CacheUnavailable(RedisError):
    """Redis is skipped (its circuit is open): an invalidation cannot be made."""


class RedisCache:
    """Redis, shared by all replicas. The database stays the source of truth: a failing or
    hung Redis makes reads misses (fast, once the circuit is open) and never fails them.
    Invalidations are not skipped silently: they raise, and the write answers 503."""

    name = "redis"

    def __init__(
        self, url: str, prefix: str = "profilestore:", *, timeout_seconds: float = 0.25
    ) -> None:
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry_on_timeout=False,
        )
        self._prefix = prefix
        self.breaker = CircuitBreaker("redis-cache")

    async def get(self, key: str) -> bytes | None:
        if not self.breaker.allow():
            return None
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        self.breaker.success()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if not self.breaker.allow():
            return
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))
        except (RedisError, OSError) as exc:
            self._failed("set", exc)
            return
        self.breaker.success()

    async def delete(self, *keys: str) -> None:
        """Invalidation must not be lost silently: a failure raises (the caller answers 503)."""
        if not keys:
            return
        if not self.breaker.allow():
            raise CacheUnavailable("redis circuit open")
        try:
            await self._redis.delete(*(self._prefix + key for key in keys))
        except (RedisError, OSError) as exc:
            self._failed("delete", exc)
            raise
        self.breaker.success()

    def _failed(self, op: str, exc: Exception) -> None:
        self.breaker.failure()
        log.warning("cache_unavailable", op=op, error=type(exc).__name__)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


class NoCache:
    """No caching: for several processes with no shared cache and no invalidation channel,
    where a per-process cache would serve a change made through another process stale."""

    name = "none"

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    async def delete(self, *keys: str) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def build_cache(
    redis_url: str | None, prefix: str, timeout_seconds: float = 0.25, processes: int = 1
) -> Cache:
    """Redis when configured; else an in-process cache, but only for a single process."""
    if redis_url:
        return RedisCache(redis_url, prefix, timeout_seconds=timeout_seconds)
    if processes > 1:
        log.warning(
            "cache_disabled",
            detail=f"{processes} worker processes and no PROFILESTORE_REDIS_URL: a per-process "
            "cache could serve a block made through another worker stale, so reads are not "
            "cached. Set PROFILESTORE_REDIS_URL to cache them.",
        )
        return NoCache()
    return MemoryCache()


def record(cache: Cache, hit: bool) -> None:
    CACHE_REQUESTS.labels(cache.name, "hit" if hit else "miss").inc()
