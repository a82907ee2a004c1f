"""The shared tier and the invalidation channel, against real Redis: two ``Cache`` objects
stand for two processes. A fill never stores a value read before a drop; a drop reaches the
other process's near cache within milliseconds; a lost channel flushes and bypasses the near
cache until it is back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from profilestore.platform.cache import Cache, NearCache
from profilestore.platform.invalidation import InvalidationListener
from profilestore.platform.sharedcache import SharedCache
from tests.support import skip_or_fail

REDIS_URL = "redis://127.0.0.1:6379/0"


def process_cache(url: str, prefix: str) -> Cache:
    near = NearCache(1000, 60.0, guard_seconds=10.0)
    near.bypass()
    return Cache(near, SharedCache(url, prefix, timeout_seconds=0.25), ttl_seconds=60.0)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"pstest:{uuid.uuid4().hex}:"
    probe = SharedCache(REDIS_URL, name)
    try:
        await probe.ping()
    except Exception:
        skip_or_fail("Redis is not reachable")
    yield name
    keys = [key async for key in probe.redis.scan_iter(match=name + "*")]
    if keys:
        await probe.redis.delete(*keys)
    await probe.close()


async def listening(cache: Cache, stop: asyncio.Event) -> asyncio.Task[None]:
    listener = InvalidationListener(cache, heartbeat_seconds=0.2)
    task = asyncio.create_task(listener.run(stop))
    await asyncio.wait_for(listener.connected.wait(), 5)
    return task


async def test_a_value_read_before_a_drop_is_never_stored(prefix: str) -> None:
    writer, reader = process_cache(REDIS_URL, prefix), process_cache(REDIS_URL, prefix)
    assert reader.shared is not None
    ticket = await reader.shared.get("profiles:1")
    assert isinstance(ticket, int)  # a miss answers with a ticket
    await writer.invalidate("profiles:1")  # a write commits and drops the key meanwhile
    assert not await reader.shared.fill("profiles:1", b"old", 60, ticket)
    assert await reader.shared.get("profiles:1") != b"old"
    fresh = await reader.shared.get("profiles:1")
    assert isinstance(fresh, int)
    assert await reader.shared.fill("profiles:1", b"new", 60, fresh)
    assert await writer.shared.get("profiles:1") == b"new"  # type: ignore[union-attr]
    for cache in (writer, reader):
        await cache.close()


async def test_read_through_fills_both_tiers_and_counts(prefix: str) -> None:
    cache = process_cache(REDIS_URL, prefix)
    assert cache.near is not None and cache.shared is not None
    cache.near.resume()
    loads = 0

    async def load() -> bytes:
        nonlocal loads
        loads += 1
        return b"value"

    assert await cache.read("profiles:x", load) == (b"value", False)
    assert await cache.read("profiles:x", load) == (b"value", True)
    assert loads == 1 and cache.near.get("profiles:x") == b"value"
    many = await cache.read_many(["profiles:x", "profiles:y"], _load_many)
    assert many == {"profiles:x": b"value", "profiles:y": b"y-loaded"}
    await cache.close()


async def test_a_read_may_set_its_own_time_to_live(prefix: str) -> None:
    """Media reads keep their entries PROFILESTORE_MEDIA_CACHE_TTL_SECONDS, not the cache's."""
    cache = process_cache(REDIS_URL, prefix)
    assert cache.shared is not None

    async def load() -> bytes:
        return b"page"

    await cache.read("watchlist:u:default", load, ttl_seconds=7)
    await cache.read("profiles:u", load)
    redis = cache.shared.redis
    assert 0 < await redis.pttl(prefix + "watchlist:u:default") <= 7000
    assert 7000 < await redis.pttl(prefix + "profiles:u") <= 60_000
    await cache.close()


async def _load_many(keys: list[str]) -> dict[str, bytes]:
    return {key: key.split(":")[1].encode() + b"-loaded" for key in keys}


async def test_a_drop_reaches_the_other_process_within_milliseconds(prefix: str) -> None:
    stop = asyncio.Event()
    writer, reader = process_cache(REDIS_URL, prefix), process_cache(REDIS_URL, prefix)
    task = await listening(reader, stop)
    assert reader.near is not None and not reader.near.bypassed
    delays = []
    for round_ in range(50):
        key = f"profiles:{round_}"
        await reader.read(key, _constant)
        assert reader.near.get(key) == b"v"
        started = time.perf_counter()
        await writer.invalidate(key)
        while reader.near.get(key) is not None:
            await asyncio.sleep(0.0005)
            assert time.perf_counter() - started < 1.0, "the drop never arrived"
        delays.append(time.perf_counter() - started)
    delays.sort()
    print(f"drop delivered: median {delays[25] * 1000:.2f} ms, max {delays[-1] * 1000:.2f} ms")
    stop.set()
    await task
    for cache in (writer, reader):
        await cache.close()


async def _constant() -> bytes:
    return b"v"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["killed", "hung"])
async def test_a_lost_channel_bypasses_the_near_cache_until_it_is_back(
    redis_server: tuple[subprocess.Popen[bytes], int], fault: str
) -> None:
    server, port = redis_server
    url = f"redis://127.0.0.1:{port}/0"
    stop = asyncio.Event()
    cache = process_cache(url, "p:")
    task = await listening(cache, stop)
    assert cache.near is not None
    await cache.read("profiles:k", _constant)
    assert cache.near.get("profiles:k") == b"v"
    if fault == "hung":
        os.kill(server.pid, signal.SIGSTOP)
    else:
        server.kill()
        server.wait()
    started = time.monotonic()
    while not cache.near.bypassed:
        assert time.monotonic() - started < 5, "the lost channel was not noticed"
        await asyncio.sleep(0.02)
    print(f"redis {fault}: near cache bypassed after {time.monotonic() - started:.2f} s")
    assert cache.near.get("profiles:k") is None  # flushed
    await cache.read("profiles:k", _constant)
    assert cache.near.get("profiles:k") is None  # and not filled while bypassed
    if fault == "hung":
        os.kill(server.pid, signal.SIGCONT)
        restarted = None
    else:
        restarted = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        started = time.monotonic()
        while cache.near.bypassed:
            assert time.monotonic() - started < 10, "the channel never came back"
            await asyncio.sleep(0.05)
        cache.shared.breaker.success()  # type: ignore[union-attr]
        await cache.read("profiles:k", _constant)
        await cache.read("profiles:k", _constant)
        assert cache.near.get("profiles:k") == b"v"
    finally:
        stop.set()
        await task
        await cache.close()
        if restarted is not None:
            restarted.kill()
            restarted.wait()
