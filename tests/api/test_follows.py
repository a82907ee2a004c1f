"""Follows, followers and mutes (both databases): idempotent writes with their events, lists
with public profiles and cursors seen through the viewer's blocks and mutes, counts kept right
under concurrent follows, blocks removing follows both ways, and deletion and erasure leaving
no follow or mute of the user and every count fixed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from profilestore.domains.social.follow_models import Follow, FollowCounts
from tests.api.test_erasure import outbox, rows_of
from tests.api.test_social import block_url, make_user
from tests.events_support import outbox_types
from tests.support import ADMIN, SERVICE, bearer


async def users(client: httpx.AsyncClient, how_many: int) -> list[uuid.UUID]:
    return [await make_user(client) for _ in range(how_many)]


def follow_url(follower: uuid.UUID, followed: uuid.UUID) -> str:
    return f"/v1/profiles/{follower}/following/{followed}"


def mute_url(owner: uuid.UUID, muted: uuid.UUID) -> str:
    return f"/v1/profiles/{owner}/mutes/{muted}"


async def follow(client: httpx.AsyncClient, follower: uuid.UUID, followed: uuid.UUID) -> None:
    answer = await client.put(follow_url(follower, followed), headers=bearer(follower))
    assert answer.status_code == 201, answer.text


async def listing(
    client: httpx.AsyncClient,
    user: uuid.UUID,
    direction: str,
    viewer: uuid.UUID | None = None,
    **params: Any,
) -> dict[str, Any]:
    answer = await client.get(
        f"/v1/profiles/{user}/{direction}", params=params, headers=bearer(viewer or user)
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def listed(page: dict[str, Any]) -> list[str]:
    return [item["user_id"] for item in page["items"]]


async def counts_of(app: FastAPI, user: uuid.UUID) -> tuple[int, int]:
    """(followers, following) as kept, checked against the rows."""
    async with app.state.db.read_session() as session:
        row = await session.get(FollowCounts, user)
        kept = (row.followers_count, row.following_count) if row else (0, 0)
        count = select(func.count()).select_from(Follow)
        followers = (await session.execute(count.where(Follow.followed_user_id == user))).scalar()
        following = (await session.execute(count.where(Follow.user_id == user))).scalar()
    assert kept == (followers, following)
    return kept


async def test_follow_lifecycle(client: httpx.AsyncClient, app: FastAPI) -> None:
    fan, star = await make_user(client), await make_user(client, "the_star")
    created = await client.put(follow_url(fan, star), headers=bearer(fan))
    assert created.status_code == 201, created.text
    assert created.json()["followed_user_id"] == str(star)
    again = await client.put(follow_url(fan, star), headers=bearer(fan))
    assert again.status_code == 200 and again.json() == created.json()
    followers = await listing(client, star, "followers")
    assert listed(followers) == [str(fan)]
    assert (followers["followers_count"], followers["following_count"]) == (1, 0)
    following = await listing(client, fan, "following")
    assert following["items"][0]["profile"]["username"] == "the_star"
    assert "timezone" not in following["items"][0]["profile"]
    assert (following["followers_count"], following["following_count"]) == (0, 1)
    for _ in range(2):
        gone = await client.delete(follow_url(fan, star), headers=bearer(fan))
        assert gone.status_code == 204
    assert await counts_of(app, star) == (0, 0) and await counts_of(app, fan) == (0, 0)
    assert (await listing(client, star, "followers"))["items"] == []
    types = await outbox_types(app.state.db)
    assert types[-2:] == ["UserFollowed", "UserUnfollowed"]
    assert types.count("UserFollowed") == 1 and types.count("UserUnfollowed") == 1


async def test_follow_rules(client: httpx.AsyncClient, app: FastAPI) -> None:
    fan, star = await make_user(client), await make_user(client)
    itself = await client.put(follow_url(fan, fan), headers=bearer(fan))
    assert itself.status_code == 422
    assert itself.headers["content-type"] == "application/problem+json"
    assert itself.json()["errors"][0]["field"] == "path.followed_user_id"
    unknown = await client.put(follow_url(fan, uuid.uuid4()), headers=bearer(fan))
    assert unknown.status_code == 404
    nobody = uuid.uuid4()
    assert (await client.put(follow_url(nobody, star), headers=bearer(nobody))).status_code == 404
    stranger = await client.put(follow_url(fan, star), headers=bearer(star))
    assert stranger.status_code == 404  # only the follower (or an admin) follows for them
    assert (await client.put(follow_url(fan, star), headers=ADMIN)).status_code == 201
    for bad in ({"limit": 201}, {"limit": 0}, {"cursor": "not a cursor"}):
        answer = await client.get(f"/v1/profiles/{star}/followers", params=bad, headers=ADMIN)
        assert answer.status_code == 422
    assert (await client.get(f"/v1/profiles/{star}/followers")).status_code == 401
    missing = await client.get(f"/v1/profiles/{uuid.uuid4()}/following", headers=bearer(fan))
    assert missing.status_code == 404
    assert await counts_of(app, star) == (1, 0)


async def test_pages_of_followers_by_cursor(client: httpx.AsyncClient) -> None:
    star = await make_user(client)
    fans = [await make_user(client) for _ in range(5)]
    for fan in fans:
        await follow(client, fan, star)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await listing(client, star, "followers", viewer=fans[0], **params)
        assert page["followers_count"] == 5
        seen += listed(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(str(fan) for fan in fans)


async def test_lists_are_public_but_hide_blockers_of_the_viewer(client: httpx.AsyncClient) -> None:
    star, fan, blocker, viewer = await users(client, 4)
    for follower in (fan, blocker):
        await follow(client, follower, star)
    await client.put(block_url(blocker, viewer), json={}, headers=bearer(blocker))
    assert listed(await listing(client, star, "followers", viewer=viewer)) == [str(fan)]
    everyone = sorted([str(fan), str(blocker)])
    assert sorted(listed(await listing(client, star, "followers", viewer=fan))) == everyone
    for caller in (SERVICE, ADMIN):
        answer = await client.get(f"/v1/profiles/{star}/followers", headers=caller)
        assert sorted(listed(answer.json())) == everyone
    own = await client.get(f"/v1/profiles/{blocker}/following", headers=bearer(viewer))
    assert own.status_code == 404  # the blocker's own lists, as if they did not exist


async def test_a_block_removes_follows_both_ways(client: httpx.AsyncClient, app: FastAPI) -> None:
    one, other = await make_user(client), await make_user(client)
    await follow(client, one, other)
    await follow(client, other, one)
    assert (
        await client.put(block_url(one, other), json={}, headers=bearer(one))
    ).status_code == 201
    assert await counts_of(app, one) == (0, 0) and await counts_of(app, other) == (0, 0)
    types = await outbox_types(app.state.db)
    assert types[-3:] == ["UserUnfollowed", "UserUnfollowed", "UserBlocked"]
    refused = await client.put(follow_url(other, one), headers=bearer(other))
    assert refused.status_code == 404  # one blocks them: as if one did not exist
    own_block = await client.put(follow_url(one, other), headers=bearer(one))
    assert own_block.status_code == 409


async def test_concurrent_follows_keep_the_counts_right(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    star = await make_user(client)
    fans = [await make_user(client) for _ in range(8)]
    writes = [client.put(follow_url(fan, star), headers=bearer(fan)) for fan in fans]
    writes += [client.put(follow_url(star, fan), headers=bearer(star)) for fan in fans]
    writes += [client.put(follow_url(fans[0], star), headers=bearer(fans[0]))]
    answers = await asyncio.gather(*writes)
    assert sorted(a.status_code for a in answers) == [200] + [201] * 16
    assert await counts_of(app, star) == (8, 8)
    unfollows = [client.delete(follow_url(fan, star), headers=bearer(fan)) for fan in fans[:5]]
    assert {a.status_code for a in await asyncio.gather(*unfollows)} == {204}
    assert await counts_of(app, star) == (3, 8)
    assert [await counts_of(app, fan) for fan in fans[4:6]] == [(1, 0), (1, 1)]


async def test_mutes_hide_the_muted_from_the_muters_lists(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    muter, muted, star, other = await users(client, 4)
    for follower in (muter, muted):
        await follow(client, follower, star)
    created = await client.put(mute_url(muter, muted), headers=bearer(muter))
    assert created.status_code == 201 and created.json()["muted_user_id"] == str(muted)
    assert (await client.put(mute_url(muter, muted), headers=bearer(muter))).status_code == 200
    assert listed(await listing(client, star, "followers", viewer=muter)) == [str(muter)]
    page = await listing(client, star, "followers", viewer=other)
    assert len(page["items"]) == 2 and page["followers_count"] == 2  # only the muter's view
    mutes = await client.get(f"/v1/profiles/{muter}/mutes", headers=bearer(muter))
    assert [m["muted_user_id"] for m in mutes.json()["items"]] == [str(muted)]
    hidden = await client.get(f"/v1/profiles/{muter}/mutes", headers=bearer(muted))
    assert hidden.status_code == 404  # mutes are private
    assert (await client.put(mute_url(muter, muter), headers=bearer(muter))).status_code == 422
    for _ in range(2):
        assert (
            await client.delete(mute_url(muter, muted), headers=bearer(muter))
        ).status_code == 204
    assert len((await listing(client, star, "followers", viewer=muter))["items"]) == 2
    types = await outbox_types(app.state.db)
    assert types[-2:] == ["UserMuted", "UserUnmuted"] and types.count("UserMuted") == 1


async def test_a_deleted_user_leaves_no_follow_or_mute_and_counts_are_fixed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, star, fan, muter = await users(client, 4)
    await follow(client, user, star)
    await follow(client, fan, user)
    await client.put(mute_url(user, star), headers=bearer(user))
    await client.put(mute_url(muter, user), headers=bearer(muter))
    deleted = await client.delete(f"/v1/profiles/{user}", headers=bearer(user))
    assert deleted.status_code == 204
    assert not any(key.startswith(("follow", "mutes")) for key in await rows_of(app, user))
    assert await counts_of(app, star) == (0, 0) and await counts_of(app, fan) == (0, 0)
    assert (await outbox(app, fan))[-1].type == "profilestore.social.UserUnfollowed"
    assert (await outbox(app, muter))[-1].type == "profilestore.social.UserUnmuted"


async def test_erasure_removes_follows_and_mutes_both_ways(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, star, fan = await users(client, 3)
    await follow(client, user, star)
    await follow(client, fan, user)
    await client.put(mute_url(fan, user), headers=bearer(fan))
    answer = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
    assert answer.status_code == 200, answer.text
    assert answer.json()["domains"]["social"]["rows"] == 2  # their follow and their counts
    assert not any(key.startswith(("follow", "mutes")) for key in await rows_of(app, user))
    assert await counts_of(app, star) == (0, 0) and await counts_of(app, fan) == (0, 0)
