"""Contacts and blocks: rules, pagination, events, and blocks that really block."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from profilestore.domains.profiles.models import Profile
from profilestore.domains.social.models import Contact
from profilestore.platform.cache import Cache
from profilestore.platform.db import utcnow
from profilestore.platform.sharedcache import SharedCache
from tests.api.test_profiles import StatementCounter
from tests.events_support import outbox_types
from tests.support import ADMIN, SERVICE, bearer


async def make_user(client: httpx.AsyncClient, name: str | None = None) -> uuid.UUID:
    user = uuid.uuid4()
    body = {"username": name or f"u{user.hex[:12]}", "timezone": "Europe/Paris"}
    response = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert response.status_code == 201
    return user


def contact_url(owner: uuid.UUID, other: uuid.UUID) -> str:
    return f"/v1/profiles/{owner}/contacts/{other}"


def block_url(owner: uuid.UUID, other: uuid.UUID) -> str:
    return f"/v1/profiles/{owner}/blocks/{other}"


async def test_contact_lifecycle(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner, friend = await make_user(client), await make_user(client, "friend_one")
    me = bearer(owner)
    created = await client.put(contact_url(owner, friend), json={"nickname": "Bestie"}, headers=me)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["nickname"] == "Bestie" and body["is_favorite"] is False
    assert body["profile"]["username"] == "friend_one" and "timezone" not in body["profile"]
    updated = await client.put(contact_url(owner, friend), json={"is_favorite": True}, headers=me)
    assert updated.status_code == 200 and updated.json()["version"] == 2
    assert updated.json()["nickname"] is None  # PUT replaces
    patched = await client.patch(
        contact_url(owner, friend),
        json={"nickname": "B"},
        headers={**me, "Content-Type": "application/merge-patch+json"},
    )
    assert patched.json()["nickname"] == "B" and patched.json()["is_favorite"] is True
    assert (await client.delete(contact_url(owner, friend), headers=me)).status_code == 204
    assert (await client.delete(contact_url(owner, friend), headers=me)).status_code == 204
    missing = await client.patch(contact_url(owner, friend), json={"nickname": "x"}, headers=me)
    assert missing.status_code == 404
    assert await outbox_types(app.state.db) == [
        "ProfileCreated",
        "ProfileCreated",
        "ContactAdded",
        "ContactUpdated",
        "ContactUpdated",
        "ContactRemoved",
    ]


async def test_contact_rules(client: httpx.AsyncClient) -> None:
    owner, friend = await make_user(client), await make_user(client)
    me = bearer(owner)
    self_contact = await client.put(contact_url(owner, owner), json={}, headers=me)
    assert self_contact.status_code == 422
    nobody = await client.put(contact_url(owner, uuid.uuid4()), json={}, headers=me)
    assert nobody.status_code == 404
    no_profile = uuid.uuid4()
    orphan = await client.put(contact_url(no_profile, friend), json={}, headers=bearer(no_profile))
    assert orphan.status_code == 404
    too_long = await client.put(contact_url(owner, friend), json={"nickname": "x" * 65}, headers=me)
    assert too_long.status_code == 422
    for bad in ({"nickname": None, "is_favorite": "maybe"}, {"version": 1}, {"other": 1}):
        assert (
            await client.put(contact_url(owner, friend), json=bad, headers=me)
        ).status_code == 422
    listing = await client.get(f"/v1/profiles/{owner}/contacts", headers=me)
    assert listing.json() == {"items": [], "next_cursor": None}


async def test_pagination_over_thousands_of_contacts(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await make_user(client)
    now = utcnow()
    friends = [uuid.uuid4() for _ in range(3000)]
    async with app.state.db.write_session() as session:
        await session.execute(
            insert(Profile),
            [
                {
                    "user_id": f,
                    "username": f"p{f.hex[:20]}",
                    "preferences": {},
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for f in friends
            ],
        )
        await session.execute(
            insert(Contact),
            [
                {
                    "user_id": owner,
                    "contact_user_id": f,
                    "nickname": None,
                    "is_favorite": i % 3 == 0,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for i, f in enumerate(friends)
            ],
        )
        await session.commit()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        async with StatementCounter(app) as counter:
            page = (
                await client.get(
                    f"/v1/profiles/{owner}/contacts", params=params, headers=bearer(owner)
                )
            ).json()
        assert len(counter.statements) == 2  # the page, and its profiles in one batch: no N+1
        assert all(item["profile"]["user_id"] == item["contact_user_id"] for item in page["items"])
        seen += [item["contact_user_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 15
    assert len(seen) == len(set(seen)) == 3000 and set(seen) == {str(f) for f in friends}
    favorites = (
        await client.get(
            f"/v1/profiles/{owner}/contacts",
            params={"favorite": "true", "limit": 200},
            headers=bearer(owner),
        )
    ).json()
    assert (
        all(item["is_favorite"] for item in favorites["items"]) and len(favorites["items"]) == 200
    )
    bad = await client.get(
        f"/v1/profiles/{owner}/contacts", params={"cursor": "!!"}, headers=bearer(owner)
    )
    assert bad.status_code == 422
    too_big = await client.get(
        f"/v1/profiles/{owner}/contacts", params={"limit": 201}, headers=bearer(owner)
    )
    assert too_big.status_code == 422


async def test_concurrent_adds_of_one_contact_give_one_row(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner, friend = await make_user(client), await make_user(client)
    responses = await asyncio.gather(
        *(
            client.put(
                contact_url(owner, friend), json={"is_favorite": True}, headers=bearer(owner)
            )
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201]
    async with app.state.db.read_session() as session:
        count = (await session.execute(select(func.count()).select_from(Contact))).scalar()
    assert count == 1


async def test_blocking_hides_the_blocker_everywhere(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    blocker, blocked = await make_user(client, "the_blocker"), await make_user(client)
    as_blocked = bearer(blocked)
    await client.put(contact_url(blocker, blocked), json={}, headers=bearer(blocker))
    await client.put(contact_url(blocked, blocker), json={}, headers=as_blocked)
    response = await client.put(
        block_url(blocker, blocked), json={"reason": "spam"}, headers=bearer(blocker)
    )
    assert response.status_code == 201 and response.json()["reason"] == "spam"
    again = await client.put(
        block_url(blocker, blocked), json={"reason": "still spam"}, headers=bearer(blocker)
    )
    assert again.status_code == 200
    blocker_contacts = (
        await client.get(f"/v1/profiles/{blocker}/contacts", headers=bearer(blocker))
    ).json()
    assert blocker_contacts["items"] == []  # blocking removed the contact
    # Every read path of the blocker, by the blocked user, answers as if the blocker did not exist.
    assert (await client.get(f"/v1/profiles/{blocker}", headers=as_blocked)).status_code == 404
    assert (
        await client.get(f"/v1/profiles/{blocker}/presence", headers=as_blocked)
    ).status_code == 404
    assert (
        await client.get(f"/v1/profiles/{blocker}/contacts", headers=as_blocked)
    ).status_code == 404
    batch = await client.get(
        "/v1/profiles", params={"ids": f"{blocker},{blocked}"}, headers=as_blocked
    )
    assert [p["user_id"] for p in batch.json()["items"]] == [str(blocked)]
    by_name = await client.get(
        "/v1/profiles", params={"username": "the_blocker"}, headers=as_blocked
    )
    assert by_name.json()["items"] == []
    own_contacts = (await client.get(f"/v1/profiles/{blocked}/contacts", headers=as_blocked)).json()
    assert own_contacts["items"] == []  # the blocker drops out of the blocked user's list too
    re_add = await client.put(contact_url(blocked, blocker), json={}, headers=as_blocked)
    assert re_add.status_code == 404
    add_blocked = await client.put(contact_url(blocker, blocked), json={}, headers=bearer(blocker))
    assert add_blocked.status_code == 409
    # Others, admins and services still see the blocker.
    assert (
        await client.get(f"/v1/profiles/{blocker}", headers=bearer(uuid.uuid4()))
    ).status_code == 200
    for caller in (ADMIN, SERVICE):
        assert (await client.get(f"/v1/profiles/{blocker}", headers=caller)).status_code == 200
    blocks = (await client.get(f"/v1/profiles/{blocker}/blocks", headers=bearer(blocker))).json()
    assert [b["blocked_user_id"] for b in blocks["items"]] == [str(blocked)]
    assert (
        await client.delete(block_url(blocker, blocked), headers=bearer(blocker))
    ).status_code == 204
    assert (await client.get(f"/v1/profiles/{blocker}", headers=as_blocked)).status_code == 200
    assert (
        await client.delete(block_url(blocker, blocked), headers=bearer(blocker))
    ).status_code == 204
    types = await outbox_types(app.state.db)
    assert types[-3:] == ["ContactRemoved", "UserBlocked", "UserUnblocked"]


async def test_block_rules(client: httpx.AsyncClient) -> None:
    owner = await make_user(client)
    assert (await client.put(block_url(owner, owner), headers=bearer(owner))).status_code == 422
    no_profile = await client.put(block_url(owner, uuid.uuid4()), headers=bearer(owner))
    assert no_profile.status_code == 201  # says nothing about whether the user exists
    other = await make_user(client)
    long_reason = await client.put(
        block_url(owner, other), json={"reason": "x" * 281}, headers=bearer(owner)
    )
    assert long_reason.status_code == 422
    no_body = await client.put(block_url(owner, other), headers=bearer(owner))
    assert no_body.status_code == 201 and no_body.json()["reason"] is None


async def test_block_pagination(client: httpx.AsyncClient) -> None:
    owner = await make_user(client)
    targets = [await make_user(client) for _ in range(5)]
    for target in targets:
        await client.put(block_url(owner, target), headers=bearer(owner))
    first = (
        await client.get(f"/v1/profiles/{owner}/blocks", params={"limit": 3}, headers=bearer(owner))
    ).json()
    rest = (
        await client.get(
            f"/v1/profiles/{owner}/blocks",
            params={"limit": 3, "cursor": first["next_cursor"]},
            headers=bearer(owner),
        )
    ).json()
    ids = [b["blocked_user_id"] for b in first["items"] + rest["items"]]
    assert sorted(ids) == sorted(map(str, targets)) and rest["next_cursor"] is None


async def check(client: httpx.AsyncClient, a: uuid.UUID, b: uuid.UUID) -> dict[str, object]:
    response = await client.get(
        "/v1/blocks/check", params={"a": str(a), "b": str(b)}, headers=SERVICE
    )
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


async def test_block_check_is_cached_and_invalidated(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    a, b = await make_user(client), await make_user(client)
    assert (await check(client, a, b))["blocked"] is False
    async with StatementCounter(app) as counter:
        assert (await check(client, b, a))["blocked"] is False
    assert counter.statements == []  # served from the cache
    await client.put(block_url(b, a), headers=bearer(b))
    after = await check(client, a, b)
    assert after == {
        "a": str(a),
        "b": str(b),
        "blocked": True,
        "a_blocks_b": False,
        "b_blocks_a": True,
    }
    await client.put(block_url(a, b), headers=bearer(a))
    assert (await check(client, b, a))["a_blocks_b"] is True
    await client.delete(block_url(b, a), headers=bearer(b))
    final = await check(client, a, b)
    assert final["a_blocks_b"] is True and final["b_blocks_a"] is False
    user_call = await client.get(
        "/v1/blocks/check", params={"a": str(a), "b": str(b)}, headers=bearer(a)
    )
    assert user_call.status_code == 403
    bad = await client.get("/v1/blocks/check", params={"a": "x", "b": str(b)}, headers=SERVICE)
    assert bad.status_code == 422


async def test_block_check_with_redis(client: httpx.AsyncClient, app: FastAPI) -> None:
    prefix = f"pstest:{uuid.uuid4().hex}:"
    redis_cache = Cache(None, SharedCache("redis://127.0.0.1:6379/0", prefix), 300)
    try:
        await redis_cache.ping()
    except Exception:
        from tests.support import skip_or_fail

        skip_or_fail("Redis is not reachable")
    app.state.cache = redis_cache
    try:
        a, b = await make_user(client), await make_user(client)
        assert (await check(client, a, b))["blocked"] is False
        async with StatementCounter(app) as counter:
            assert (await check(client, a, b))["blocked"] is False
        assert counter.statements == []
        await client.put(block_url(a, b), headers=bearer(a))
        assert (await check(client, a, b))["a_blocks_b"] is True
    finally:
        redis = SharedCache.redis_of(redis_cache)
        keys = [k async for k in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis_cache.close()


async def test_block_write_fails_cleanly_when_redis_is_down(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    a, b = await make_user(client), await make_user(client)
    app.state.cache = Cache(None, SharedCache("redis://127.0.0.1:1/0", "pstest:"), 300)
    response = await client.put(block_url(a, b), headers=bearer(a))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    blocks = (await client.get(f"/v1/profiles/{a}/blocks", headers=bearer(a))).json()
    assert blocks["items"] == []  # nothing changed
    assert (await check(client, a, b))["blocked"] is False  # reads degrade to the database
    patch = await client.patch(
        f"/v1/profiles/{a}", json={"bio": "not while Redis is down"}, headers=bearer(a)
    )
    assert patch.status_code == 503  # its cached reads could not be dropped
    profile = await client.get(f"/v1/profiles/{a}", headers=bearer(a))
    assert profile.status_code == 200 and profile.json()["bio"] != "not while Redis is down"
