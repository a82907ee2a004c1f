"""The calorie ledger: one event or a batch (all or nothing, every bad index named), event_id
dedupe (also under concurrent retries), listing, corrections, removals and their events."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.test_nutrition_body import MERGE, url
from tests.api.test_social import make_user
from tests.events_support import outbox_rows
from tests.support import SERVICE, bearer

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def event(minutes_ago: int = 0, **fields: Any) -> dict[str, Any]:
    at = (NOW - dt.timedelta(minutes=minutes_ago)).isoformat()
    return {"kind": "consumed", "kcal": 500, "at": at, **fields}


async def post(client: httpx.AsyncClient, user: uuid.UUID, body: Any) -> httpx.Response:
    return await client.post(url(user, "calories"), json=body, headers=bearer(user))


async def listed(client: httpx.AsyncClient, user: uuid.UUID, query: str = "") -> list[Any]:
    answer = await client.get(url(user, f"calories?limit=500{query}"), headers=bearer(user))
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    return items


async def logged_events(app: FastAPI) -> list[dict[str, Any]]:
    rows = [r.payload for r in await outbox_rows(app.state.db)]
    return [r["data"] for r in rows if r["type"] == "profilestore.nutrition.CaloriesLogged"]


async def test_one_event_and_its_retry(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    event_id = str(uuid.uuid4())
    first = await post(client, user, event(event_id=event_id, source="app", metadata={"meal": 1}))
    assert first.status_code == 201, first.text
    assert first.json()["event_id"] == event_id and first.json()["metadata"] == {"meal": 1}
    retry = await post(client, user, event(event_id=event_id, kcal=999))
    assert retry.status_code == 200 and retry.json()["kcal"] == 500  # not counted twice
    assert len(await listed(client, user)) == 1
    assert [e["count"] for e in await logged_events(app)] == [{"consumed": 1}]


async def test_a_batch_is_one_transaction_and_one_event(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    known = str(uuid.uuid4())
    await post(client, user, event(event_id=known))
    batch = [event(i, kcal=100 + i) for i in range(1, 6)]
    batch += [event(7, kind="burned_activity", kcal=300), event(8, event_id=known)]
    answer = await post(client, user, {"events": batch})
    assert answer.status_code == 201, answer.text
    assert answer.json()["created"] == 6 and answer.json()["duplicates"] == 1
    assert len(answer.json()["items"]) == 7
    assert len(await listed(client, user)) == 7
    assert (await logged_events(app))[-1] == {
        "user_id": str(user),
        "count": {"consumed": 5, "burned_activity": 1},
        "kcal": {"consumed": 515.0, "burned_activity": 300.0},
    }


async def test_one_bad_event_refuses_the_whole_batch(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    batch = [event(1), event(2, kcal=-1), event(3), event(4, kind="snack"), event(5)]
    answer = await post(client, user, {"events": batch})
    assert answer.status_code == 422
    fields = sorted({e["field"] for e in answer.json()["errors"]})
    assert fields == ["body.events.1.kcal", "body.events.3.kind"]
    assert await listed(client, user) == []
    for bad in (
        {"events": []},
        {"events": [event()] * 1001},
        {"events": event()},
        {"events": [event()], "extra": 1},
        event(kcal=20_001),
        event(kcal="500"),
        event(at="2026-01-01T12:00:00"),
        event(at=(NOW + dt.timedelta(hours=25)).isoformat()),
        event(metadata={"x": "y" * 4100}),
        event(metadata=[1]),
        event(note="a\u0000b"),
        event(event_id="not-a-uuid"),
        {"kind": "consumed", "kcal": 1},
        [event()],
    ):
        refused = await post(client, user, bad)
        assert refused.status_code == 422, (json.dumps(bad)[:80], refused.text)
    assert await listed(client, user) == []


async def test_concurrent_retries_count_once(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    body = {"events": [event(i, event_id=str(uuid.uuid4())) for i in range(20)]}
    answers = await asyncio.gather(*(post(client, user, body) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201] * 5
    assert sum(a.json()["created"] for a in answers) == 20
    assert len(await listed(client, user)) == 20
    summary = await client.get(url(user, "calories/summary?granularity=year"), headers=bearer(user))
    assert sum(bucket["count"] for bucket in summary.json()["buckets"]) == 20  # rollups too


async def test_list_filters_and_pages(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    batch = [event(i, kind="consumed" if i % 2 else "burned_other") for i in range(30)]
    await post(client, user, {"events": batch})
    everything = await listed(client, user)
    assert [e["at"] for e in everything] == sorted((e["at"] for e in everything), reverse=True)
    burned = await listed(client, user, "&kind=burned_other")
    assert len(burned) == 15
    since = (NOW - dt.timedelta(minutes=9)).isoformat().replace("+", "%2B")
    until = (NOW - dt.timedelta(minutes=4)).isoformat().replace("+", "%2B")
    assert len(await listed(client, user, f"&from={since}&to={until}")) == 5
    seen: list[str] = []
    cursor = None
    while True:
        query = url(user, "calories?limit=7") + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, headers=bearer(user))).json()
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["event_id"] for e in everything]


async def test_corrections_and_removals(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    made = (await post(client, user, event(source="scale"))).json()
    entry = url(user, f"calories/{made['event_id']}")
    fixed = await client.patch(
        entry, json={"kcal": 450, "note": "smaller"}, headers={**bearer(user), **MERGE}
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["kcal"] == 450 and fixed.json()["source"] == "scale"
    for bad in ({"kcal": -5}, {"event_id": str(uuid.uuid4())}, {"kind": "x"}):
        refused = await client.patch(entry, json=bad, headers={**bearer(user), **MERGE})
        assert refused.status_code == 422, bad
    for _ in range(2):
        assert (await client.delete(entry, headers=bearer(user))).status_code == 204
    assert await listed(client, user) == []
    missing = await client.patch(entry, json={"kcal": 1}, headers={**bearer(user), **MERGE})
    assert missing.status_code == 404
    rows = [r.payload for r in await outbox_rows(app.state.db)]
    changes = [r["data"] for r in rows if r["type"].endswith("CalorieEntryChanged")]
    assert [(c["action"], c["before"]["kcal"], c["after"]) for c in changes] == [
        ("corrected", 500, {"kind": "consumed", "kcal": 450}),
        ("removed", 450, None),
    ]


async def test_only_the_owner_and_admins_log(client: httpx.AsyncClient) -> None:
    user, other = await make_user(client), await make_user(client)
    assert (await post(client, other, event())).status_code == 201
    stranger = await client.post(url(user, "calories"), json=event(), headers=bearer(other))
    assert stranger.status_code == 404
    assert (
        await client.post(url(user, "calories"), json=event(), headers=SERVICE)
    ).status_code == 404
    assert (await client.get(url(user, "calories"), headers=SERVICE)).status_code == 200
    assert (await post(client, uuid.uuid4(), event())).status_code == 404


async def test_a_full_batch_fits_its_route_and_only_its_route(client: httpx.AsyncClient) -> None:
    """1,000 events with metadata pass the body limit of the batch route (8 MiB), which other
    routes keep at PROFILESTORE_MAX_BODY_BYTES (64 KiB)."""
    user = await make_user(client)
    big = {"events": [event(i % 600, metadata={"label": "x" * 200}) for i in range(1000)]}
    answer = await post(client, user, big)
    assert answer.status_code == 201, answer.text[:300]
    assert answer.json()["created"] == 1000
    too_big = {"bio": "x" * 70_000, "username": "toolarge"}
    refused = await client.put(f"/v1/profiles/{user}", json=too_big, headers=bearer(user))
    assert refused.status_code == 413
