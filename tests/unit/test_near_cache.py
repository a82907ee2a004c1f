"""The near cache's rules: bounded, expiring, and never filled with a value read before a drop
of its key (or a flush) that happened after the read began."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from profilestore.platform.cache import Cache, NearCache


def near(max_entries: int = 100, ttl: float = 60.0) -> NearCache:
    return NearCache(max_entries, ttl, guard_seconds=10.0)


def test_a_fill_after_a_drop_of_its_key_is_refused() -> None:
    cache = near()
    ticket = cache.ticket()
    cache.drop(["k"])
    assert not cache.fill("k", b"old", ticket)
    assert cache.get("k") is None
    assert cache.fill("k", b"new", cache.ticket())  # a read that began after the drop
    assert cache.get("k") == b"new"


def test_a_drop_of_another_key_does_not_refuse_a_fill() -> None:
    cache = near()
    ticket = cache.ticket()
    cache.drop(["other"])
    assert cache.fill("k", b"v", ticket)


def test_a_flush_refuses_every_fill_begun_before_it() -> None:
    cache = near()
    ticket = cache.ticket()
    cache.flush()
    assert not cache.fill("k", b"v", ticket)


def test_bypassed_serves_and_keeps_nothing() -> None:
    cache = near()
    cache.fill("k", b"v", cache.ticket())
    cache.bypass()
    assert cache.get("k") is None
    assert not cache.fill("k", b"v", cache.ticket())
    cache.resume()
    assert cache.fill("k", b"v", cache.ticket()) and cache.get("k") == b"v"


def test_entries_expire_and_the_size_is_bounded() -> None:
    cache = near(max_entries=3, ttl=0.05)
    for key in "abcd":
        cache.fill(key, key.encode(), cache.ticket())
    assert len(cache) == 3 and cache.get("a") is None
    time.sleep(0.06)
    assert cache.get("d") is None


def test_a_fill_may_ask_for_a_shorter_life_only() -> None:
    cache = near(ttl=0.2)
    cache.fill("short", b"s", cache.ticket(), ttl_seconds=0.02)
    cache.fill("long", b"l", cache.ticket(), ttl_seconds=60)
    time.sleep(0.05)
    assert cache.get("short") is None and cache.get("long") == b"l"
    time.sleep(0.2)
    assert cache.get("long") is None  # capped at the near cache's own time to live


def test_a_slow_read_is_not_cached() -> None:
    cache = NearCache(10, 60.0, guard_seconds=0.01)
    ticket = cache.ticket()
    time.sleep(0.02)
    assert not cache.fill("k", b"v", ticket)


@given(
    st.lists(
        st.tuples(st.sampled_from(["read", "write"]), st.sampled_from(["a", "b", "c"])),
        max_size=40,
    ),
    st.data(),
)
async def test_interleaved_reads_and_writes_never_leave_a_stale_value(
    operations: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Reads that start, load the database's value, and finish (fill) at any later point, with
    writes (database change, then drop) in between: whatever the order, once every read has
    finished, the cache holds no value older than the database's."""
    cache = Cache(near(), None, ttl_seconds=60.0)
    assert cache.near is not None
    database = {"a": 0, "b": 0, "c": 0}
    pending: list[tuple[str, int, tuple[int, float]]] = []
    for operation, key in operations:
        if operation == "write":
            database[key] += 1
            await cache.invalidate(key)
        else:
            pending.append((key, database[key], cache.near.ticket()))
        if pending and data.draw(st.booleans()):
            key, value, ticket = pending.pop(data.draw(st.integers(0, len(pending) - 1)))
            cache.near.fill(key, str(value).encode(), ticket)
    for key, value, ticket in pending:
        cache.near.fill(key, str(value).encode(), ticket)
    for key, value in database.items():
        cached = cache.near.get(key)
        assert cached is None or int(cached) == value
