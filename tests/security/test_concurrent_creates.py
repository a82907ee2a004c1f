"""Concurrent creates of one profile: the loser of the insert race is retried as an update
(never 409), and under ``If-None-Match: *`` answered 412. On both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
from fastapi import FastAPI

from tests.events_support import outbox_rows
from tests.support import bearer

RACERS = 20


async def _race(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[uuid.UUID, Counter]:
    user = uuid.uuid4()
    body = {"username": f"r{user.hex[:10]}", "bio": "same"}
    answers = await asyncio.gather(
        *(
            client.put(f"/v1/profiles/{user}", json=body, headers={**bearer(user), **headers})
            for _ in range(RACERS)
        )
    )
    return user, Counter(a.status_code for a in answers)


async def test_concurrent_puts_create_once_and_update_the_rest(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, statuses = await _race(client, {})
    assert statuses == Counter({201: 1, 200: RACERS - 1}), statuses
    profile = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
    assert profile.json()["version"] == 1  # the same body changes nothing
    created = [
        row for row in await outbox_rows(app.state.db) if row.type.endswith("ProfileCreated")
    ]
    assert [row.aggregateid for row in created] == [str(user)]


async def test_concurrent_create_only_puts_answer_412(client: httpx.AsyncClient) -> None:
    _, statuses = await _race(client, {"If-None-Match": "*"})
    assert statuses == Counter({201: 1, 412: RACERS - 1}), statuses
