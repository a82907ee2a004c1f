"""The presence stream (SSE) of a user's contacts, with blocks applied, and the single-use
stream tickets that let a browser's EventSource open it without a bearer header."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from profilestore.platform.jsonutil import loads
from tests.support import bearer


async def create(client: httpx.AsyncClient, user: uuid.UUID) -> None:
    body = {"username": f"s{user.hex[:12]}"}
    assert (await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))).is_success


async def beat(client: httpx.AsyncClient, user: uuid.UUID, status: str) -> None:
    response = await client.put(
        f"/v1/profiles/{user}/presence", json={"status": status}, headers=bearer(user)
    )
    assert response.status_code == 200


def events(body: str) -> list[tuple[str, Any]]:
    found = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], loads(lines["data"])))
    return found


async def test_contacts_transitions_arrive_and_blockers_stay_out(
    client: httpx.AsyncClient,
) -> None:
    me, friend, blocker, stranger = (uuid.uuid4() for _ in range(4))
    for user in (me, friend, blocker, stranger):
        await create(client, user)
    for contact in (friend, blocker):
        added = await client.put(f"/v1/profiles/{me}/contacts/{contact}", headers=bearer(me))
        assert added.status_code == 201
    await beat(client, friend, "away")
    blocked = await client.put(f"/v1/profiles/{blocker}/blocks/{me}", headers=bearer(blocker))
    assert blocked.status_code == 201

    stream = asyncio.create_task(
        client.get("/v1/presence/stream", params={"max_seconds": 1.5}, headers=bearer(me))
    )
    await asyncio.sleep(0.3)
    for user, status in ((friend, "online"), (blocker, "busy"), (stranger, "online")):
        await beat(client, user, status)
    await beat(client, friend, "online")  # no transition: no event
    response = await stream
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    received = events(response.text)
    assert received[0] == ("snapshot", [{"user_id": str(friend), "status": "away"}])
    assert received[1:] == [("presence", {"user_id": str(friend), "status": "online"})]


async def test_a_ticket_opens_one_stream_once(client: httpx.AsyncClient) -> None:
    me = uuid.uuid4()
    await create(client, me)
    issued = await client.post("/v1/stream-tickets", headers=bearer(me))
    assert issued.status_code == 201 and issued.json()["expires_in"] > 0
    ticket = issued.json()["ticket"]
    params = {"ticket": ticket, "max_seconds": 0.2}
    opened = await client.get("/v1/presence/stream", params=params)
    assert opened.status_code == 200 and events(opened.text)[0] == ("snapshot", [])
    again = await client.get("/v1/presence/stream", params=params)
    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"
    for bad in ("nope", "x" * 200, ""):
        refused = await client.get("/v1/presence/stream", params={**params, "ticket": bad})
        assert refused.status_code == 401, bad
    fresh = (await client.post("/v1/stream-tickets", headers=bearer(me))).json()["ticket"]
    elsewhere = await client.get(f"/v1/profiles/{me}", params={"ticket": fresh})
    assert elsewhere.status_code == 401  # tickets open streams, nothing else
    events_feed = await client.get(
        "/v1/events/stream", params={"ticket": fresh, "max_seconds": 0.2}
    )
    assert events_feed.status_code in (200, 403)  # authenticated; the feed's own rule applies
    assert (await client.post("/v1/stream-tickets")).status_code == 401
