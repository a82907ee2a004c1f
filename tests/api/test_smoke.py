"""A first round trip through the API on both backends."""

from __future__ import annotations

import uuid

import httpx

from tests.support import bearer


async def test_put_then_get_profile(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    created = await client.put(
        f"/v1/profiles/{user}", json={"username": "Alice_1"}, headers=bearer(user)
    )
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "alice_1"
    read = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert read.json()["user_id"] == str(user)
