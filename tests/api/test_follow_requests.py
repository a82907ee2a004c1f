"""Follow requests to private accounts (both databases): a follow of a private account is a
request (202) its owner lists, accepts (the follow and its counts) or declines, and the
requester withdraws; the owner removes followers; blocks, deletion and erasure clear requests
both ways; turning public accepts every pending request; a private account's lists are its
followers' only; each change with its events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from profilestore.domains.social import follow_requests
from tests.api.test_erasure import outbox, rows_of
from tests.api.test_follows import counts_of, follow, follow_url, listed, users
from tests.api.test_social import block_url, make_user
from tests.events_support import outbox_types
from tests.support import ADMIN, SERVICE, bearer

MERGE_PATCH = {"content-type": "application/merge-patch+json"}


async def set_private(client: httpx.AsyncClient, owner: uuid.UUID, private: bool = True) -> None:
    answer = await client.patch(
        f"/v1/profiles/{owner}/privacy",
        json={"private_account": private},
        headers=bearer(owner) | MERGE_PATCH,
    )
    assert answer.status_code == 200, answer.text


def follower_url(owner: uuid.UUID, follower: uuid.UUID) -> str:
    return f"/v1/profiles/{owner}/followers/{follower}"


def request_url(owner: uuid.UUID, requester: uuid.UUID) -> str:
    return f"/v1/profiles/{owner}/follow-requests/{requester}"


async def ask(client: httpx.AsyncClient, requester: uuid.UUID, owner: uuid.UUID) -> dict[str, Any]:
    answer = await client.put(follow_url(requester, owner), headers=bearer(requester))
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def pending(
    client: httpx.AsyncClient, owner: uuid.UUID, headers: dict[str, str] | None = None
) -> list[str]:
    answer = await client.get(
        f"/v1/profiles/{owner}/follow-requests", headers=headers or bearer(owner)
    )
    assert answer.status_code == 200, answer.text
    return listed(answer.json())


async def private_owner(client: httpx.AsyncClient, name: str | None = None) -> uuid.UUID:
    owner = await make_user(client, name)
    await set_private(client, owner)
    return owner


async def test_a_follow_of_a_private_account_is_a_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner, fan = await private_owner(client), await make_user(client, "the_fan")
    first = await ask(client, fan, owner)
    assert first["state"] == "requested" and first["followed_user_id"] == str(owner)
    assert await ask(client, fan, owner) == first  # idempotent: the same request
    assert await counts_of(app, owner) == (0, 0) and await counts_of(app, fan) == (0, 0)
    page = await client.get(f"/v1/profiles/{owner}/follow-requests", headers=bearer(owner))
    (entry,) = page.json()["items"]
    assert entry["user_id"] == str(fan) and entry["profile"]["username"] == "the_fan"
    assert page.json()["next_cursor"] is None
    for caller in (ADMIN, SERVICE):
        assert await pending(client, owner, caller) == [str(fan)]
    hidden = await client.get(f"/v1/profiles/{owner}/follow-requests", headers=bearer(fan))
    assert hidden.status_code == 404  # the requests are private to the owner
    public = await make_user(client)
    followed = await client.put(follow_url(fan, public), headers=bearer(fan))
    assert followed.status_code == 201 and followed.json()["state"] == "following"
    types = await outbox_types(app.state.db)
    assert types.count("FollowRequested") == 1 and types[-1] == "UserFollowed"
    (requested,) = [r for r in await outbox(app, owner) if r.type.endswith("FollowRequested")]
    assert requested.payload["data"] == {"user_id": str(owner), "requester_user_id": str(fan)}


async def test_pages_of_requests_by_cursor(client: httpx.AsyncClient) -> None:
    owner = await private_owner(client)
    fans = await users(client, 5)
    for fan in fans:
        await ask(client, fan, owner)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(
            f"/v1/profiles/{owner}/follow-requests", params=params, headers=bearer(owner)
        )
        seen += listed(answer.json())
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(str(fan) for fan in fans)
    missing = uuid.uuid4()
    absent = await client.get(f"/v1/profiles/{missing}/follow-requests", headers=bearer(missing))
    assert absent.status_code == 404


async def test_accepting_makes_the_follow_with_its_counts(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner, fan, stranger = await private_owner(client), *await users(client, 2)
    await ask(client, fan, owner)
    accepted = await client.put(follower_url(owner, fan), headers=bearer(owner))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["state"] == "following" and accepted.json()["user_id"] == str(fan)
    again = await client.put(follower_url(owner, fan), headers=bearer(owner))
    assert again.status_code == 200 and again.json() == accepted.json()
    assert await counts_of(app, owner) == (1, 0) and await counts_of(app, fan) == (0, 1)
    assert await pending(client, owner) == []
    followed = await client.put(follow_url(fan, owner), headers=bearer(fan))
    assert followed.status_code == 200 and followed.json()["state"] == "following"
    none = await client.put(follower_url(owner, stranger), headers=bearer(owner))
    assert none.status_code == 404
    assert none.headers["content-type"] == "application/problem+json"
    not_theirs = await client.put(follower_url(owner, fan), headers=bearer(fan))
    assert not_theirs.status_code == 404  # only the owner (or an admin) accepts
    types = await outbox_types(app.state.db)
    assert types[-3:] == ["FollowRequested", "UserFollowed", "FollowRequestAccepted"]


async def test_declining_and_withdrawing_end_the_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner, fan = await private_owner(client), await make_user(client)
    await ask(client, fan, owner)
    for _ in range(2):
        assert (
            await client.delete(request_url(owner, fan), headers=bearer(owner))
        ).status_code == 204
    assert await pending(client, owner) == []
    refused = await client.put(follower_url(owner, fan), headers=bearer(owner))
    assert refused.status_code == 404  # declined: nothing to accept
    await ask(client, fan, owner)
    for _ in range(2):
        assert (await client.delete(follow_url(fan, owner), headers=bearer(fan))).status_code == 204
    assert await pending(client, owner) == []
    assert await counts_of(app, owner) == (0, 0) and await counts_of(app, fan) == (0, 0)
    types = await outbox_types(app.state.db)
    assert types[-4:] == [
        "FollowRequested",
        "FollowRequestDeclined",
        "FollowRequested",
        "FollowRequestCanceled",
    ]


async def test_the_owner_removes_a_follower(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner, fan, other = await users(client, 3)
    await follow(client, fan, owner)
    await follow(client, other, owner)
    refused = await client.delete(follower_url(owner, fan), headers=bearer(other))
    assert refused.status_code == 404
    for _ in range(2):
        removed = await client.delete(follower_url(owner, fan), headers=bearer(owner))
        assert removed.status_code == 204
    assert await counts_of(app, owner) == (1, 0) and await counts_of(app, fan) == (0, 0)
    followers = await client.get(f"/v1/profiles/{owner}/followers", headers=bearer(owner))
    assert listed(followers.json()) == [str(other)]
    types = await outbox_types(app.state.db)
    assert types[-2:] == ["UserUnfollowed", "FollowerRemoved"]
    assert types.count("FollowerRemoved") == 1
    (event,) = [r for r in await outbox(app, owner) if r.type.endswith("FollowerRemoved")]
    assert event.payload["data"] == {"user_id": str(owner), "follower_user_id": str(fan)}


async def test_a_block_removes_requests_both_ways(client: httpx.AsyncClient, app: FastAPI) -> None:
    one, other = await private_owner(client), await private_owner(client)
    await ask(client, one, other)
    await ask(client, other, one)
    blocked = await client.put(block_url(one, other), json={}, headers=bearer(one))
    assert blocked.status_code == 201
    assert await pending(client, one) == [] and await pending(client, other) == []
    types = await outbox_types(app.state.db)
    assert types[-3:] == ["FollowRequestCanceled", "FollowRequestCanceled", "UserBlocked"]
    assert await counts_of(app, one) == (0, 0) and await counts_of(app, other) == (0, 0)


async def test_deletion_and_erasure_remove_requests_both_ways(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    asked, owner = await private_owner(client), await private_owner(client)
    for ending in ("delete", "erase"):
        user, fan = await private_owner(client), await make_user(client)
        await ask(client, user, asked)
        await ask(client, fan, user)
        if ending == "delete":
            gone = await client.delete(f"/v1/profiles/{user}", headers=bearer(user))
        else:
            gone = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
        assert gone.is_success, gone.text
        assert not any(key.startswith("follow_requests") for key in await rows_of(app, user))
        assert await pending(client, asked) == []
        assert (await outbox(app, asked))[-1].type == "profilestore.social.FollowRequestCanceled"
    assert await pending(client, owner) == []


async def test_turning_public_accepts_every_pending_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await private_owner(client)
    fans = sorted(await users(client, 3))
    for fan in fans:
        await ask(client, fan, owner)
    await set_private(client, owner)  # unchanged: nothing happens
    assert len(await pending(client, owner)) == 3
    await set_private(client, owner, False)
    assert await pending(client, owner) == []
    assert await counts_of(app, owner) == (3, 0)
    followers = await client.get(f"/v1/profiles/{owner}/followers", headers=bearer(owner))
    assert listed(followers.json()) == [str(fan) for fan in fans]
    types = await outbox_types(app.state.db)
    assert types.count("FollowRequestAccepted") == 3 and types.count("UserFollowed") == 3


async def test_the_hook_ignores_other_changes(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner, fan = await private_owner(client), await make_user(client)
    await ask(client, fan, owner)
    async with app.state.db.write_session() as session, session.begin():
        profile = {"user_id": owner, "private_account": True}
        await follow_requests.profile_changed(session, profile, ["private_account", "bio"])
        await follow_requests.profile_changed(session, {**profile, "private_account": False}, [])
    assert await pending(client, owner) == [str(fan)]
    async with app.state.db.write_session() as session, session.begin():
        profile = {"user_id": owner, "private_account": False}
        await follow_requests.profile_changed(session, profile, ["private_account"])
    assert await pending(client, owner) == []
    assert await counts_of(app, owner) == (1, 0)


async def test_a_private_accounts_lists_are_its_followers_only(client: httpx.AsyncClient) -> None:
    owner, follower, stranger, blocked = await users(client, 4)
    await follow(client, follower, owner)
    await set_private(client, owner)
    await client.put(block_url(owner, blocked), json={}, headers=bearer(owner))
    for direction in ("followers", "following"):
        url = f"/v1/profiles/{owner}/{direction}"
        for headers in (bearer(owner), bearer(follower), ADMIN, SERVICE):
            assert (await client.get(url, headers=headers)).status_code == 200
        refused = await client.get(url, headers=bearer(stranger))
        assert refused.status_code == 403
        assert refused.json()["type"] == "urn:profilestore:problem:private-account"
        assert (await client.get(url, headers=bearer(blocked))).status_code == 404
    await set_private(client, owner, False)
    shown = await client.get(f"/v1/profiles/{owner}/followers", headers=bearer(stranger))
    assert listed(shown.json()) == [str(follower)]
