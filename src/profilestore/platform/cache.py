"""The read-through cache of hot reads: serialized representations (bytes) by key.

Two tiers: a near cache in each process (a bounded LRU, no I/O on a hit) and, when Redis is
configured, a shared tier every replica reads and fills. Writes name the keys they make stale
(``mark_stale``); the unit of work drops them before its commit (an unreachable cache fails
the write with 503, changing nothing) and again after it. A drop reaches every other process
through the invalidation channel (``platform.invalidation``) within milliseconds; while that
channel is down, near caches are flushed and bypassed.

A fill never resurrects a dropped value: each miss takes a ticket before it reads the
database, and a fill is refused when the key was dropped (or the near cache flushed) after
that ticket, in either tier (see ``NearCache`` and ``platform.sharedcache``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from profilestore.platform.sharedcache import SharedCache

log = structlog.get_logger("profilestore.cache")
CACHE_REQUESTS = Counter(
    "profilestore_cache_requests_total",
    "Cache look-ups by cache and result (near_hit, hit, miss, bypass)",
    ["cache", "result"],
)
CACHE_INVALIDATIONS = Counter(
    "profilestore_cache_invalidations_total",
    "Keys dropped, by cache and origin (local write or the invalidation channel)",
    ["cache", "origin"],
)
NEAR_BYPASSED = Gauge(
    "profilestore_cache_near_bypassed",
    "1 while the near cache is bypassed (the invalidation channel is down)",
)
STALE_KEYS = "stale_cache_keys"
"""Key in a write session's ``info``: the cache keys its changes make stale."""

Loader = Callable[[], Awaitable[bytes | None]]
ManyLoader = Callable[[list[str]], Awaitable[dict[str, bytes]]]


def mark_stale(session: Any, *keys: str) -> None:
    """Name cache keys a service's change makes stale; the unit of work drops them."""
    session.info.setdefault(STALE_KEYS, set()).update(keys)


def cache_name(key: str) -> str:
    """The cache a key belongs to: its first segment (``profiles:<id>`` is ``profiles``)."""
    return key.split(":", 1)[0]


class NearCache:
    """A bounded in-process LRU with expiry. Drops and flushes are numbered; a fill carries the
    number current when its miss began (its ticket) and is refused if the key was dropped, or
    the cache flushed, since: a value read before a change never outlives the change's drop."""

    def __init__(self, max_entries: int, ttl_seconds: float, guard_seconds: float) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._dropped: dict[str, tuple[int, float]] = {}
        self._max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._guard_seconds = guard_seconds
        self._sequence = 0
        self._flushed_at = 0
        self.bypassed = False

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def ticket(self) -> tuple[int, float]:
        return self._sequence, time.monotonic()

    def fill(
        self, key: str, value: bytes, ticket: tuple[int, float], ttl_seconds: float | None = None
    ) -> bool:
        """Keep ``value`` for this cache's time to live, or ``ttl_seconds`` if shorter."""
        sequence, started = ticket
        now = time.monotonic()
        if self.bypassed or sequence < self._flushed_at or now - started > self._guard_seconds:
            return False
        dropped = self._dropped.get(key)
        if dropped is not None and dropped[0] > sequence:
            return False
        ttl = self.ttl_seconds if ttl_seconds is None else min(self.ttl_seconds, ttl_seconds)
        self._entries[key] = (now + ttl, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return True

    def drop(self, keys: Iterable[str]) -> None:
        self._sequence += 1
        now = time.monotonic()
        for key in keys:
            self._entries.pop(key, None)
            self._dropped.pop(key, None)
            self._dropped[key] = (self._sequence, now)
        self._forget_old_drops(now)

    def _forget_old_drops(self, now: float) -> None:
        """A drop older than the guard cannot refuse any fill (older tickets are refused)."""
        horizon = now - self._guard_seconds
        while self._dropped:
            key, (_, at) = next(iter(self._dropped.items()))
            if at >= horizon:
                break
            del self._dropped[key]

    def flush(self) -> None:
        self._sequence += 1
        self._flushed_at = self._sequence
        self._entries.clear()

    def bypass(self) -> None:
        """Stop serving and filling (the invalidation channel is down) and forget everything."""
        self.bypassed = True
        self.flush()
        NEAR_BYPASSED.set(1)

    def resume(self) -> None:
        """Serve again (the channel is back); drops missed meanwhile are covered by the flush."""
        self.flush()
        self.bypassed = False
        NEAR_BYPASSED.set(0)

    def __len__(self) -> int:
        return len(self._entries)


class Cache:
    """The cache of one process: near tier, optional shared tier. ``read`` is read-through;
    ``invalidate`` drops keys in both tiers and tells every other process."""

    def __init__(
        self, near: NearCache | None, shared: SharedCache | None, ttl_seconds: float
    ) -> None:
        self.near = near
        self.shared = shared
        self.ttl_seconds = ttl_seconds
        self._counters: dict[tuple[str, str], Any] = {}

    @property
    def name(self) -> str:
        if self.shared is not None:
            return "near+redis" if self.near is not None else "redis"
        return "near" if self.near is not None else "none"

    def count(self, name: str, result: str) -> None:
        counter = self._counters.get((name, result))
        if counter is None:
            counter = CACHE_REQUESTS.labels(name, result)
            self._counters[(name, result)] = counter
        counter.inc()

    async def read(
        self, key: str, load: Loader, *, ttl_seconds: float | None = None
    ) -> tuple[bytes | None, bool]:
        """The value of ``key`` and whether it came from the cache; ``load`` on a miss (a None
        it returns is not cached). ``ttl_seconds``: how long it is kept (default: the cache's;
        a near tier keeps it no longer than its own time to live)."""
        near = self.near
        if near is not None and not near.bypassed:
            value = near.get(key)
            if value is not None:
                self.count(cache_name(key), "near_hit")
                return value, True
        near_ticket = near.ticket() if near is not None else None
        shared_ticket: int | None = None
        if self.shared is not None:
            found = await self.shared.get(key)
            if isinstance(found, bytes):
                if near is not None and near_ticket is not None:
                    near.fill(key, found, near_ticket)
                self.count(cache_name(key), "hit")
                return found, True
            shared_ticket = found
        value = await load()
        self.count(cache_name(key), self._miss_kind(shared_ticket))
        if value is not None:
            await self._fill(key, value, near_ticket, shared_ticket, ttl_seconds)
        return value, False

    async def read_many(self, keys: list[str], load: ManyLoader) -> dict[str, bytes]:
        """Values of ``keys`` (missing ones left out): near hits, then one shared-tier round
        trip, then one ``load`` of the rest."""
        found: dict[str, bytes] = {}
        near = self.near
        if near is not None and not near.bypassed:
            for key in keys:
                value = near.get(key)
                if value is not None:
                    found[key] = value
        missing = [key for key in keys if key not in found]
        for key in found:
            self.count(cache_name(key), "near_hit")
        if not missing:
            return found
        near_ticket = near.ticket() if near is not None else None
        shared_tickets: dict[str, int | None] = dict.fromkeys(missing)
        if self.shared is not None:
            for key, answer in (await self.shared.get_many(missing)).items():
                if isinstance(answer, bytes):
                    found[key] = answer
                    self.count(cache_name(key), "hit")
                    if near is not None and near_ticket is not None:
                        near.fill(key, answer, near_ticket)
                else:
                    shared_tickets[key] = answer
            missing = [key for key in missing if key not in found]
        loaded = await load(missing) if missing else {}
        for key in missing:
            self.count(cache_name(key), self._miss_kind(shared_tickets[key]))
        for key, value in loaded.items():
            await self._fill(key, value, near_ticket, shared_tickets.get(key))
        found.update(loaded)
        return found

    async def _fill(
        self,
        key: str,
        value: bytes,
        near_ticket: tuple[int, float] | None,
        shared_ticket: int | None,
        ttl_seconds: float | None = None,
    ) -> None:
        if self.shared is not None:
            if shared_ticket is None:
                return  # the shared tier is unreachable: do not cache what it cannot drop
            ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
            if not await self.shared.fill(key, value, ttl, shared_ticket):
                return  # dropped since the miss: the value read may be stale
        if self.near is not None and near_ticket is not None:
            self.near.fill(key, value, near_ticket, ttl_seconds)

    def _miss_kind(self, shared_ticket: int | None) -> str:
        """``miss`` when a tier was asked and had nothing; ``bypass`` when none could be."""
        if self.shared is not None:
            return "miss" if shared_ticket is not None else "bypass"
        return "miss" if self.near is not None else "bypass"

    async def invalidate(self, *keys: str) -> None:
        """Drop ``keys`` here, in the shared tier and (through the channel) in every other
        process. Raises ``CacheUnavailable`` when the shared tier cannot be reached."""
        if not keys:
            return
        if self.near is not None:
            self.near.drop(keys)
        for key in keys:
            CACHE_INVALIDATIONS.labels(cache_name(key), "local").inc()
        if self.shared is not None:
            await self.shared.invalidate(keys)

    def dropped_elsewhere(self, keys: list[str]) -> None:
        """Keys another process dropped (from the invalidation channel)."""
        if self.near is not None:
            self.near.drop(keys)
        for key in keys:
            CACHE_INVALIDATIONS.labels(cache_name(key), "channel").inc()

    async def ping(self) -> None:
        if self.shared is not None:
            await self.shared.ping()

    async def close(self) -> None:
        if self.near is not None:
            self.near.flush()
        if self.shared is not None:
            await self.shared.close()


class CacheUnavailable(RedisError):
    """The shared tier cannot be reached: an invalidation cannot be made (the write answers
    503)."""


def build_cache(settings: Any) -> Cache:
    """The process's cache for ``settings``:

    - Redis configured: near tier (bypassed until the invalidation channel is up) + Redis;
    - no Redis, one process: the near tier alone, which then sees every write;
    - no Redis, several worker processes: no cache at all, since no channel tells one worker
      of another's writes (a block must never be served stale); said at start-up.
    """
    near_ttl = settings.cache_near_ttl_seconds
    guard = settings.cache_fill_guard_seconds
    if not settings.cache_enabled:
        log.warning("cache_disabled", detail="PROFILESTORE_CACHE_ENABLED=false")
        return Cache(None, None, settings.cache_ttl_seconds)
    if settings.redis_url:
        from profilestore.platform.sharedcache import SharedCache

        near = NearCache(settings.cache_near_max_entries, near_ttl, guard) if near_ttl else None
        if near is not None:
            near.bypass()
        shared = SharedCache(
            settings.redis_url,
            settings.cache_prefix,
            timeout_seconds=settings.redis_timeout_seconds,
            guard_seconds=guard,
        )
        return Cache(near, shared, settings.cache_ttl_seconds)
    if settings.serve_workers > 1:
        log.warning(
            "cache_disabled",
            detail=f"{settings.serve_workers} worker processes and no PROFILESTORE_REDIS_URL: "
            "no channel tells one worker of another's writes, so reads are not cached (a block "
            "must never be served stale). Set PROFILESTORE_REDIS_URL to cache them.",
        )
        return Cache(None, None, settings.cache_ttl_seconds)
    near = NearCache(settings.cache_near_max_entries, settings.cache_ttl_seconds, guard)
    return Cache(near, None, settings.cache_ttl_seconds)
