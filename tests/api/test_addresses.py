"""Addresses: one default per kind, a per-user limit, validation, privacy, ETags, events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from profilestore.settings import Settings
from tests.events_support import outbox_types
from tests.support import ADMIN, SERVICE, bearer, client_for


def address(kind: str = "shipping", **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "lines": ["1 Main Street"], "city": "Lyon", "country": "FR", **fields}


async def user_with_profile(client: httpx.AsyncClient) -> uuid.UUID:
    user = uuid.uuid4()
    response = await client.put(
        f"/v1/profiles/{user}", json={"username": f"a{user.hex[:12]}"}, headers=bearer(user)
    )
    assert response.status_code == 201
    return user


async def add(client: httpx.AsyncClient, user: uuid.UUID, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        f"/v1/profiles/{user}/addresses", json=address(**fields), headers=bearer(user)
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(response.json()["id"])
    body: dict[str, Any] = response.json()
    return body


async def defaults(client: httpx.AsyncClient, user: uuid.UUID) -> dict[str, list[str]]:
    items = (await client.get(f"/v1/profiles/{user}/addresses", headers=bearer(user))).json()
    found: dict[str, list[str]] = {"shipping": [], "billing": []}
    for item in items["items"]:
        if item["is_default"]:
            found[item["kind"]].append(item["id"])
    return found


async def test_one_default_per_kind(client: httpx.AsyncClient) -> None:
    user = await user_with_profile(client)
    first = await add(client, user, label="home")
    assert first["is_default"]  # the first of its kind
    second = await add(client, user, label="office")
    assert not second["is_default"]
    billing = await add(client, user, kind="billing")
    assert billing["is_default"]
    assert await defaults(client, user) == {"shipping": [first["id"]], "billing": [billing["id"]]}
    third = await add(client, user, label="new default", is_default=True)
    assert await defaults(client, user) == {"shipping": [third["id"]], "billing": [billing["id"]]}
    url = f"/v1/profiles/{user}/addresses/{second['id']}"
    promoted = await client.put(url, json=address(is_default=True), headers=bearer(user))
    assert promoted.status_code == 200
    assert await defaults(client, user) == {"shipping": [second["id"]], "billing": [billing["id"]]}
    removed = await client.delete(url, headers=bearer(user))
    assert removed.status_code == 204
    assert await defaults(client, user) == {"shipping": [first["id"]], "billing": [billing["id"]]}
    assert (await client.delete(url, headers=bearer(user))).status_code == 204  # idempotent


async def test_listing_is_oldest_first(client: httpx.AsyncClient) -> None:
    user = await user_with_profile(client)
    made = [(await add(client, user, label=f"n{n}"))["id"] for n in range(5)]
    listed = (await client.get(f"/v1/profiles/{user}/addresses", headers=bearer(user))).json()
    assert [item["id"] for item in listed["items"]] == made


@pytest.fixture
async def limited_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"max_addresses_per_user": 2})) as client:
        yield client


async def test_the_per_user_limit(limited_client: httpx.AsyncClient) -> None:
    user = await user_with_profile(limited_client)
    await add(limited_client, user)
    await add(limited_client, user, kind="billing")
    over = await limited_client.post(
        f"/v1/profiles/{user}/addresses", json=address(), headers=bearer(user)
    )
    assert over.status_code == 409
    assert over.json()["type"].endswith("too-many-addresses")
    listed = await limited_client.get(f"/v1/profiles/{user}/addresses", headers=bearer(user))
    assert len(listed.json()["items"]) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "home"}, "body.kind"),
        ({"country": "XX"}, "body.country"),
        ({"country": "France"}, "body.country"),
        ({"lines": []}, "body.lines"),
        ({"lines": ["a", "b", "c", "d", "e"]}, "body.lines"),
        ({"lines": [""]}, "body.lines.0"),
        ({"city": ""}, "body.city"),
        ({"label": "x" * 65}, "body.label"),
        ({"postal_code": "9" * 33}, "body.postal_code"),
        ({"id": str(uuid.uuid4())}, "body.id"),
        ({"version": 9}, "body"),  # server-kept: one error naming the fields
    ],
)
async def test_validation(client: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
    user = await user_with_profile(client)
    response = await client.post(
        f"/v1/profiles/{user}/addresses", json={**address(), **change}, headers=bearer(user)
    )
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]}
    listed = await client.get(f"/v1/profiles/{user}/addresses", headers=bearer(user))
    assert listed.json()["items"] == []


async def test_addresses_are_private(client: httpx.AsyncClient) -> None:
    owner = await user_with_profile(client)
    stranger = await user_with_profile(client)
    item = await add(client, owner)
    listing = f"/v1/profiles/{owner}/addresses"
    one = f"{listing}/{item['id']}"
    for method, url, body in (
        ("GET", listing, None),
        ("GET", one, None),
        ("POST", listing, address()),
        ("PUT", one, address(city="Stolen")),
        ("DELETE", one, None),
    ):
        response = await client.request(method, url, json=body, headers=bearer(stranger))
        assert response.status_code == 404, (method, url)
    for reader in (SERVICE, ADMIN):
        assert (await client.get(one, headers=reader)).json() == item
    service_write = await client.put(one, json=address(city="Service"), headers=SERVICE)
    assert service_write.status_code == 404
    assert (await client.get(one, headers=bearer(owner))).json() == item
    profile = (await client.get(f"/v1/profiles/{owner}", headers=bearer(stranger))).json()
    assert "addresses" not in profile


async def test_missing_profile_or_address_is_404(client: httpx.AsyncClient) -> None:
    nobody = uuid.uuid4()
    listed = await client.get(f"/v1/profiles/{nobody}/addresses", headers=bearer(nobody))
    assert listed.status_code == 404
    added = await client.post(
        f"/v1/profiles/{nobody}/addresses", json=address(), headers=bearer(nobody)
    )
    assert added.status_code == 404
    user = await user_with_profile(client)
    missing = f"/v1/profiles/{user}/addresses/{uuid.uuid4()}"
    assert (await client.get(missing, headers=bearer(user))).status_code == 404
    assert (await client.put(missing, json=address(), headers=bearer(user))).status_code == 404


async def test_etags_and_conditional_requests(client: httpx.AsyncClient) -> None:
    user = await user_with_profile(client)
    created = await client.post(
        f"/v1/profiles/{user}/addresses", json=address(), headers=bearer(user)
    )
    url = created.headers["location"]
    tag = created.headers["etag"]
    cached = await client.get(url, headers={**bearer(user), "If-None-Match": tag})
    assert cached.status_code == 304
    replaced = await client.put(
        url, json=address(city="Nice"), headers={**bearer(user), "If-Match": tag}
    )
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    stale = await client.put(
        url, json=address(city="Lost"), headers={**bearer(user), "If-Match": tag}
    )
    assert stale.status_code == 412
    assert (await client.get(url, headers=bearer(user))).json()["city"] == "Nice"
    stale_delete = await client.delete(url, headers={**bearer(user), "If-Match": tag})
    assert stale_delete.status_code == 412


async def test_deleting_the_profile_removes_its_addresses(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await user_with_profile(client)
    await add(client, user)
    await add(client, user, kind="billing")
    assert (await client.delete(f"/v1/profiles/{user}", headers=bearer(user))).status_code == 204
    await user_with_profile_again(client, user)
    listed = await client.get(f"/v1/profiles/{user}/addresses", headers=bearer(user))
    assert listed.json()["items"] == []
    types = await outbox_types(app.state.db)
    assert types.count("AddressAdded") == 2
    assert types.index("ProfileDeleted") > types.index("AddressAdded")


async def user_with_profile_again(client: httpx.AsyncClient, user: uuid.UUID) -> None:
    response = await client.put(
        f"/v1/profiles/{user}", json={"username": f"a{user.hex[:12]}"}, headers=bearer(user)
    )
    assert response.status_code == 201
