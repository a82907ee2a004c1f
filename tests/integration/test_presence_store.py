"""Both presence stores (process memory, Redis) follow the same rules, step by step: device
statuses, expiry handed out once, the announced status, and taking an announcement back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from profilestore.domains.profiles.presence_store import (
    MemoryPresence,
    PresenceStore,
    RedisPresence,
)

TTL = 1000
NOW = 1_800_000_000_000


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[PresenceStore]:
    chosen: PresenceStore = (
        MemoryPresence()
        if request.param == "memory"
        else RedisPresence("redis://127.0.0.1:6379/0", redis_prefix, 0.5)
    )
    yield chosen
    await chosen.close()


async def beat(
    store: PresenceStore, user: uuid.UUID, device: str, status: str, at: int
) -> tuple[str, str, int, bool]:
    outcome = await store.beat(
        user, device, status, now_ms=at, seen_ms=at, ttl_ms=TTL, write_every_ms=10 * TTL
    )
    return outcome.old, outcome.new, outcome.devices, outcome.write_due


async def test_devices_transitions_and_expiry(store: PresenceStore) -> None:
    user = uuid.uuid4()
    assert await beat(store, user, "phone", "away", NOW) == ("offline", "away", 1, True)
    assert await beat(store, user, "laptop", "online", NOW + 10) == ("away", "online", 2, False)
    assert await beat(store, user, "laptop", "busy", NOW + 20) == ("online", "busy", 2, False)
    live = await store.states([user, uuid.uuid4()], NOW + 30)
    assert list(live) == [user] and live[user].status == "busy" and live[user].devices == 2
    assert await store.expire(NOW + 30, 100) == []
    assert (await store.states([user], NOW + TTL + 25))[user].status == "offline"
    gone = await store.expire(NOW + TTL + 25, 100)
    assert gone == [(user, NOW + 20, "busy")]
    assert await store.expire(NOW + TTL + 30, 100) == []  # handed out once


async def test_an_announcement_taken_back_is_made_again(store: PresenceStore) -> None:
    user = uuid.uuid4()
    await beat(store, user, "phone", "online", NOW)
    await store.unannounce(user, "online", "offline", None)  # its event was not committed
    assert await beat(store, user, "phone", "online", NOW + 10) == ("offline", "online", 1, False)
    gone = await store.expire(NOW + TTL + 20, 100)
    assert [entry[0] for entry in gone] == [user]
    await store.unannounce(user, "offline", "online", NOW + TTL + 500)
    assert await store.expire(NOW + TTL + 100, 100) == []  # not yet due
    again = await store.expire(NOW + TTL + 600, 100)
    assert [(entry[0], entry[2]) for entry in again] == [(user, "online")]
    await store.unannounce(user, "busy", "online", None)  # not what is announced: no effect
    assert await store.expire(NOW + 10 * TTL, 100) == []


async def test_concurrent_heartbeats_announce_one_transition(store: PresenceStore) -> None:
    """Twenty devices of one user coming online at once: exactly one of the beats sees the
    transition (so one PresenceChanged), whatever the interleaving."""
    user = uuid.uuid4()
    outcomes = await asyncio.gather(
        *(beat(store, user, f"device-{i}", "online", NOW + i) for i in range(20))
    )
    transitions = [outcome for outcome in outcomes if outcome[0] != outcome[1]]
    assert len(transitions) == 1 and transitions[0][:2] == ("offline", "online")
    assert max(outcome[2] for outcome in outcomes) == 20
