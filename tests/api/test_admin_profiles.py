"""GET /v1/admin/profiles (both databases): every whole profile in (updated_at, user_id) order,
paged by keyset cursors without gaps or repeats (ties on updated_at included), the
``updated_since`` watermark, the accent- and case-insensitive search ``q`` (hostile input
refused or taken literally), and admins only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from profilestore.domains.profiles import admin
from profilestore.domains.profiles.models import Profile
from profilestore.platform.pagination import encode_position
from tests.support import ADMIN, SERVICE, bearer

URL = "/v1/admin/profiles"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
PRIVATE_FIELDS = {"locale", "timezone", "preferences", "created_at", "updated_at", "version"}


async def create(client: httpx.AsyncClient, username: str, display_name: str | None = None) -> str:
    user = uuid.uuid4()
    body = {"username": username, "display_name": display_name, "timezone": "Europe/Paris"}
    response = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert response.status_code == 201, response.text
    return str(user)


async def touch(client: httpx.AsyncClient, user: str, bio: str) -> None:
    headers = {**bearer(user), **MERGE_PATCH}
    response = await client.patch(f"/v1/profiles/{user}", json={"bio": bio}, headers=headers)
    assert response.status_code == 200, response.text


async def page(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(URL, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def every_page(client: httpx.AsyncClient, **params: Any) -> list[list[dict[str, Any]]]:
    """The items of each page, following next_cursor to the end."""
    pages = []
    cursor = None
    while True:
        body = await page(client, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def order_key(item: dict[str, Any]) -> tuple[dt.datetime, uuid.UUID]:
    return dt.datetime.fromisoformat(item["updated_at"]), uuid.UUID(item["user_id"])


def flat(pages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [item for items in pages for item in items]


async def refused(client: httpx.AsyncClient, field: str, **params: Any) -> None:
    response = await client.get(URL, params=params, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_paging_sees_every_profile_once_in_update_order(client: httpx.AsyncClient) -> None:
    users = [await create(client, f"pager{n}") for n in range(7)]
    await touch(client, users[0], "moved to the end")
    pages = await every_page(client, limit=2)
    assert [len(items) for items in pages] == [2, 2, 2, 1]
    items = flat(pages)
    assert sorted(item["user_id"] for item in items) == sorted(users)
    assert items == sorted(items, key=order_key)
    assert items[-1]["user_id"] == users[0] and items[-1]["bio"] == "moved to the end"
    assert set(items[0]) >= PRIVATE_FIELDS


async def test_profiles_of_one_instant_are_paged_by_user_id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    users = {await create(client, f"tie{n}") for n in range(5)}
    instant = dt.datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    async with app.state.db.write_session() as session, session.begin():
        await session.execute(update(Profile).values(updated_at=instant))
    pages = await every_page(client, limit=1)
    assert [item["user_id"] for item in flat(pages)] == sorted(users, key=uuid.UUID)
    assert all(len(items) == 1 for items in pages)


async def test_a_profile_changed_while_paging_is_not_missed(client: httpx.AsyncClient) -> None:
    users = [await create(client, f"moving{n}") for n in range(4)]
    first = await page(client, limit=2)
    seen = [item["user_id"] for item in first["items"]]
    await touch(client, users[2], "changed behind the cursor")
    await touch(client, users[0], "changed before the cursor")
    cursor = first["next_cursor"]
    while cursor is not None:
        body = await page(client, limit=2, cursor=cursor)
        seen += [item["user_id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert seen == [users[0], users[1], users[3], users[2], users[0]]


async def test_updated_since_is_inclusive_and_takes_any_offset(client: httpx.AsyncClient) -> None:
    for n in range(4):
        await create(client, f"since{n}")
    items = flat(await every_page(client))
    watermark = dt.datetime.fromisoformat(items[2]["updated_at"])
    expected = [item["user_id"] for item in items[2:]]
    for since in (watermark, watermark.astimezone(dt.timezone(dt.timedelta(hours=-5)))):
        found = flat(await every_page(client, updated_since=since.isoformat(), limit=1))
        assert [item["user_id"] for item in found] == expected
    later = (watermark + dt.timedelta(days=1)).isoformat()
    assert await page(client, updated_since=later) == {"items": [], "next_cursor": None}
    await refused(client, "query.updated_since", updated_since="2026-01-01T00:00:00")
    for text in ("yesterday", "1700000000", "0.5", "2026-01-01"):
        await refused(client, "query.updated_since", updated_since=text)
    await refused(client, "query.updated_since", updated_since="0001-01-01T00:00:00Z")


async def test_q_ignores_case_and_accents(client: httpx.AsyncClient) -> None:
    zoe = await create(client, "zoe.unal", "Zoë Ünal")
    strasse = await create(client, "bob", "Straße Bob")
    chloe = await create(client, "chl", "CHLOÉ")
    await create(client, "kim", "Kim Lee")
    cases = {
        "zoe": [zoe],
        "ZOË": [zoe],
        "ünal": [zoe],
        "STRASSE": [strasse],
        "straße": [strasse],
        "chloe": [chloe],
        "Chloé": [chloe],
        "o": [zoe, strasse, chloe],
        "  bob ": [strasse],
        "nobody": [],
    }
    for q, expected in cases.items():
        found = [item["user_id"] for item in flat(await every_page(client, q=q))]
        assert found == expected, q


async def test_hostile_q_is_taken_literally_or_refused(client: httpx.AsyncClient) -> None:
    percent = await create(client, "percent", "100% _real_ \\o/")
    quote = await create(client, "quote", "O'Brien")
    await create(client, "plain", "Plain Name")
    literal = {
        "%": [percent],
        "_real_": [percent],
        "\\": [percent],
        "'": [quote],
        "' OR 1=1 --": [],
    }
    for q, expected in literal.items():
        found = [item["user_id"] for item in flat(await every_page(client, q=q))]
        assert found == expected, q
    for q in ("", "   ", "a\x00b", "tab\there", "x" * 65):
        await refused(client, "query.q", q=q)
    assert len(flat(await every_page(client))) == 3


async def test_a_search_page_examines_a_bounded_number_of_profiles(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "SEARCH_BUDGET", 3)
    monkeypatch.setattr(admin, "SCAN_CHUNK", 2)
    users = [await create(client, f"{'match' if n % 3 == 0 else 'other'}{n}") for n in range(8)]
    pages = await every_page(client, q="MATCH", limit=5)
    assert [len(items) for items in pages] == [1, 1, 1]
    assert [item["user_id"] for item in flat(pages)] == [users[0], users[3], users[6]]
    one_at_a_time = await every_page(client, q="match", limit=1)
    assert [item["user_id"] for item in flat(one_at_a_time)] == [users[0], users[3], users[6]]


@pytest.mark.parametrize("caller", ["user", "service"])
async def test_only_admins_may_list(client: httpx.AsyncClient, caller: str) -> None:
    user = await create(client, "lister")
    headers = bearer(user) if caller == "user" else SERVICE
    response = await client.get(URL, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(URL)).status_code == 401


async def test_bad_paging_parameters_are_422(client: httpx.AsyncClient) -> None:
    await create(client, "paged")
    wrong_tie = encode_position(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "not-a-uuid")
    for cursor in ("AAAAAAAAAAAA", "!!notbase64!!", wrong_tie, "x" * 401):
        await refused(client, "query.cursor", cursor=cursor)
    for limit in ("0", str(admin.PAGE_MAX + 1), "ten"):
        await refused(client, "query.limit", limit=limit)
    await refused(client, "query.sort", sort="username")
    assert len((await page(client, limit=admin.PAGE_MAX))["items"]) == 1
