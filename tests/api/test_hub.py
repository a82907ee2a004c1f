"""The user's aggregate (GET /v1/users/{user_id}/profiles) in one process: every domain's
section, partial profiles as `missing`, each section under its own domain's access rules, and a
failing section reported in `errors` without failing the answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from profilestore.platform import registry
from profilestore.platform.hub import HubPart, HubRead
from tests.api.test_media_history import beat
from tests.api.test_media_viewers import media
from tests.api.test_social import block_url, contact_url, make_user
from tests.support import ADMIN, SERVICE, bearer

SECTIONS = ["social", "media", "nutrition", "movement"]


def hub_url(user: uuid.UUID) -> str:
    return f"/v1/users/{user}/profiles"


async def aggregate(
    client: httpx.AsyncClient, user: uuid.UUID, headers: dict[str, str]
) -> dict[str, Any]:
    answer = await client.get(hub_url(user), headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def fill_every_domain(client: httpx.AsyncClient, user: uuid.UUID) -> None:
    me = bearer(user)
    friend = await make_user(client)
    writes = [
        client.put(contact_url(user, friend), json={}, headers=me),
        client.put(
            f"/v1/profiles/{user}/body",
            json={"height_cm": 170, "weight_kg": 70, "birth_date": "1990-01-01"},
            headers=me,
        ),
        client.put(f"/v1/profiles/{user}/eating", json={"diet": "vegan"}, headers=me),
        client.post(f"/v1/profiles/{user}/goals", json={"goal_type": "maintenance"}, headers=me),
        client.post(
            f"/v1/profiles/{user}/calories",
            json={"kind": "consumed", "kcal": 420, "at": dt.datetime.now(dt.UTC).isoformat()},
            headers=me,
        ),
        client.put(f"/v1/profiles/{user}/movement", json={"goals": ["strength"]}, headers=me),
        client.post(media(user, "watchlist"), json={"video_id": "v1"}, headers=me),
    ]
    for write in writes:
        answer = await write
        assert answer.status_code in (200, 201), answer.text
    assert (await beat(client, user, "v2", 100.0)).status_code in (200, 201)


async def test_the_owner_sees_every_section(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)
    body = await aggregate(client, user, bearer(user))
    assert (body["missing"], body["errors"]) == ([], [])
    assert body["identity"]["user_id"] == str(user) and "timezone" in body["identity"]
    assert body["social"] == {"contacts_count": 1, "followers_count": 0, "following_count": 0}
    assert body["media"]["watchlist_count"] == 1
    assert [v["video_id"] for v in body["media"]["continue_watching"]] == ["v2"]
    nutrition = body["nutrition"]
    assert nutrition["body"]["height_cm"] == 170 and nutrition["eating"]["diet"] == "vegan"
    assert nutrition["goal"]["goal_type"] == "maintenance"
    assert (nutrition["today"]["consumed"], nutrition["today"]["count"]) == (420, 1)
    assert body["movement"]["goals"] == ["strength"]
    assert await aggregate(client, user, ADMIN) == body
    assert await aggregate(client, user, SERVICE) == body


async def test_a_partial_profile_is_normal(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    body = await aggregate(client, user, bearer(user))
    assert body["missing"] == SECTIONS and body["errors"] == []
    assert all(body[name] is None for name in SECTIONS)
    assert body["identity"]["username"].startswith("u")
    await client.put(f"/v1/profiles/{user}/movement", json={}, headers=bearer(user))
    again = await aggregate(client, user, bearer(user))
    assert again["missing"] == ["social", "media", "nutrition"]


async def test_strangers_see_the_public_identity_only(client: httpx.AsyncClient) -> None:
    user, stranger = await make_user(client), await make_user(client)
    await fill_every_domain(client, user)
    body = await aggregate(client, user, bearer(stranger))
    assert all(body[name] is None for name in SECTIONS)
    assert (body["missing"], body["errors"]) == ([], [])  # not told whether there is data
    assert "timezone" not in body["identity"] and body["identity"]["user_id"] == str(user)

    await client.put(block_url(user, stranger), json={}, headers=bearer(user))
    blocked = await client.get(hub_url(user), headers=bearer(stranger))
    assert blocked.status_code == 404
    assert blocked.headers["content-type"] == "application/problem+json"
    nobody = await client.get(hub_url(uuid.uuid4()), headers=ADMIN)
    assert nobody.status_code == 404
    assert (await client.get(hub_url(user))).status_code == 401


async def test_a_failing_section_is_an_error_not_a_failure(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)

    async def broken(read: HubRead) -> dict[str, Any] | None:
        raise ConnectionError("the movement database is down")

    parts = tuple(
        HubPart(p.name, broken, p.private, p.anchor) if p.name == "movement" else p
        for p in registry.hub_parts()
    )
    monkeypatch.setattr(registry, "hub_parts", lambda: parts)
    body = await aggregate(client, user, bearer(user))
    assert body["errors"] == [{"domain": "movement", "code": "unavailable"}]
    assert body["movement"] is None and "movement" not in body["missing"]
    assert body["nutrition"]["eating"]["diet"] == "vegan"


async def test_every_installed_domain_has_a_section(app: FastAPI) -> None:
    names = [part.name for part in registry.hub_parts()]
    assert names[0] == "identity" and sorted(names[1:]) == sorted(SECTIONS)
    assert len(names) == len({d.name for d in registry.installed()})
