"""Rate limits: per user and route class, per IP for requests without a valid token, role
quotas, the stricter look-up class, shared through Redis across app instances, and a fall-back
to in-process counters when Redis is down (never a 5xx)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from profilestore.platform.limits import RateLimits
from profilestore.settings import Settings
from tests.support import ADMIN, bearer, clear_of_minute_edge, client_for

LIMITED = {"rate_limit_enabled": True}


def limited(settings: Settings, **quotas: Any) -> Settings:
    return settings.model_copy(update={**LIMITED, **quotas})


async def _make_profile(client: httpx.AsyncClient, user: uuid.UUID) -> None:
    body = {"username": f"r{user.hex[:10]}"}
    assert (await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))).is_success


async def test_reads_past_the_quota_get_429(settings: Settings) -> None:
    async with client_for(limited(settings, rate_limit_per_minute=5)) as client:
        user = uuid.uuid4()
        await _make_profile(client, user)  # a write: its own quota
        answers = [await client.get(f"/v1/profiles/{user}", headers=bearer(user)) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("too-many-requests")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert answers[0].headers["ratelimit-policy"] == '"user-read";q=5;w=60'
        assert answers[0].headers["ratelimit"].startswith('"user-read";r=4;t=')
        assert refused.headers["ratelimit"].startswith('"user-read";r=0;t=')
        other = uuid.uuid4()  # another user has a quota of their own
        assert (await client.get("/v1/me", headers=bearer(other))).status_code == 404
        write = await client.patch(
            f"/v1/profiles/{user}",
            json={"bio": "x"},
            headers={**bearer(user), "Content-Type": "application/merge-patch+json"},
        )
        assert write.status_code == 200  # writes are counted apart from reads


async def test_every_api_answer_carries_the_headers(settings: Settings) -> None:
    async with client_for(limited(settings)) as client:
        user = uuid.uuid4()
        for response in (
            await client.get(f"/v1/profiles/{user}", headers=bearer(user)),  # 404
            await client.get("/v1/me"),  # 401
            await client.get("/v1/events", headers=bearer(user)),  # 403
        ):
            assert "ratelimit" in response.headers and "ratelimit-policy" in response.headers
        assert "ratelimit" not in (await client.get("/health")).headers


async def test_failed_authentication_is_limited_per_ip(settings: Settings) -> None:
    async with client_for(limited(settings, rate_limit_ip_per_minute=3)) as client:
        bad = {"Authorization": "Bearer not-a-token"}
        statuses = [(await client.get("/v1/me", headers=bad)).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert (await client.get("/v1/me")).status_code == 429  # no token: same address
        user = uuid.uuid4()  # a valid token is counted by its subject, not the address
        assert (await client.get("/v1/me", headers=bearer(user))).status_code == 404


async def test_admin_and_service_have_their_own_quotas(settings: Settings) -> None:
    quotas = {"rate_limit_per_minute": 2, "rate_limit_admin_per_minute": 50}
    async with client_for(limited(settings, **quotas)) as client:
        user = uuid.uuid4()
        for _ in range(2):
            await client.get("/v1/me", headers=bearer(user))
        assert (await client.get("/v1/me", headers=bearer(user))).status_code == 429
        admin = [await client.get(f"/v1/profiles/{user}", headers=ADMIN) for _ in range(10)]
        assert {a.status_code for a in admin} == {404}
        assert admin[0].headers["ratelimit-policy"] == '"admin";q=50;w=60'


async def test_lookups_by_username_are_stricter(settings: Settings) -> None:
    quotas = {"rate_limit_lookups_per_minute": 2, "rate_limit_per_minute": 100}
    async with client_for(limited(settings, **quotas)) as client:
        user = uuid.uuid4()
        await _make_profile(client, user)
        me = bearer(user)
        await clear_of_minute_edge()
        names = [
            await client.get("/v1/profiles", params={"username": f"n{i}"}, headers=me)
            for i in range(3)
        ]
        assert [n.status_code for n in names] == [200, 200, 429]
        assert names[0].headers["ratelimit-policy"] == '"user-lookup";q=2;w=60'
        by_id = await client.get(f"/v1/profiles/{user}", headers=me)
        assert by_id.status_code == 200  # reads by id are not look-ups


async def test_counters_are_shared_through_redis(settings: Settings, app: FastAPI) -> None:
    shared = limited(
        settings,
        redis_url="redis://127.0.0.1:6379/0",
        cache_prefix=f"pstest:{uuid.uuid4().hex}:",
        rate_limit_per_minute=4,
    )
    user = uuid.uuid4()
    async with client_for(shared) as first, client_for(shared) as second:
        statuses = []
        for client in (first, second, first, second, first):
            statuses.append((await client.get("/v1/me", headers=bearer(user))).status_code)
        assert statuses == [404, 404, 404, 404, 429]


async def test_redis_down_falls_back_to_process_counters(settings: Settings) -> None:
    down = limited(settings, redis_url="redis://127.0.0.1:1/0", rate_limit_per_minute=3)
    async with client_for(down) as client:
        user = uuid.uuid4()
        statuses = [
            (await client.get("/v1/me", headers=bearer(user))).status_code for _ in range(4)
        ]
        assert statuses == [404, 404, 404, 429]


async def test_the_in_process_limiter_is_cheap(settings: Settings) -> None:
    """Not a pass/fail on speed: prints the cost of one in-process hit, for the record."""
    limits = RateLimits(limited(settings))
    rounds = 2000
    started = time.perf_counter()
    for i in range(rounds):
        await limits.hit("user-read", f"user-{i % 50}")
    per_hit_us = (time.perf_counter() - started) / rounds * 1e6
    print(f"in-process rate limit: {per_hit_us:.1f} µs per request")
    assert per_hit_us > 0


async def test_shared_counters_are_taken_in_slices(settings: Settings) -> None:
    """With Redis, a process takes 1/100 of a quota per round trip and spends it locally: far
    fewer round trips, and still never more admitted than the quota, across processes."""
    shared = limited(
        settings,
        redis_url="redis://127.0.0.1:6379/0",
        cache_prefix=f"pstest:{uuid.uuid4().hex}:",
        rate_limit_admin_per_minute=500,
    )
    first, second = RateLimits(shared), RateLimits(shared)
    assert first._shared is not None and second._shared is not None
    trips = 0
    for limits in (first, second):
        real = limits._shared.hit

        async def counted(*args: Any, _real: Any = real, **kwargs: Any) -> bool:
            nonlocal trips
            trips += 1
            return bool(await _real(*args, **kwargs))

        limits._shared.hit = counted  # type: ignore[method-assign]
    decisions = [await (first, second)[i % 2].hit("admin", "ops") for i in range(700)]
    admitted = sum(decision.allowed for decision in decisions)
    print(f"700 requests, quota 500: {admitted} admitted, {trips} limiter round trips")
    assert 480 <= admitted <= 500
    assert trips < 150
    assert not decisions[-1].allowed and decisions[-1].remaining == 0
