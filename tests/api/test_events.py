"""Profile writes emit exactly their events, in commit order, in the same transaction;
the relay publishes them in order; the feed and SSE stream serve them resumably."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from profilestore.platform.events.outbox import emit
from profilestore.platform.events.relay import FeedOnlyPublisher, Relay, RelayConfig
from profilestore.platform.jsonutil import loads
from tests.events_support import RecordingPublisher, outbox_rows, outbox_types
from tests.support import ADMIN, SERVICE, bearer

ADDRESS = {"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"}


def relay(app: FastAPI, publisher: Any = None, **config: Any) -> Relay:
    return Relay(app.state.db, publisher or FeedOnlyPublisher(), RelayConfig(**config))


async def test_each_write_emits_its_events_in_commit_order(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = uuid.uuid4()
    url, me = f"/v1/profiles/{user}", bearer(user)
    assert (await client.put(url, json={"username": "evt_user"}, headers=me)).status_code == 201
    await client.patch(url, json={"bio": "hello"}, headers=me)
    await client.put(url, json={"username": "evt_user", "bio": "hello"}, headers=me)  # no change
    await client.put(f"{url}/presence", json={"status": "online"}, headers=me)
    first = (await client.post(f"{url}/addresses", json=ADDRESS, headers=me)).json()
    second = (
        await client.post(f"{url}/addresses", json={**ADDRESS, "is_default": True}, headers=me)
    ).json()
    await client.put(f"{url}/addresses/{first['id']}", json={**ADDRESS, "city": "Bonn"}, headers=me)
    await client.delete(f"{url}/addresses/{second['id']}", headers=me)
    await client.delete(url, headers=me)
    assert await outbox_types(app.state.db) == [
        "ProfileCreated",
        "ProfileUpdated",
        "PresenceChanged",
        "AddressAdded",
        "AddressUpdated",  # the first address loses its default
        "AddressAdded",
        "AddressUpdated",
        "AddressRemoved",
        "AddressUpdated",  # the remaining address becomes the default again
        "ProfileDeleted",
    ]
    rows = await outbox_rows(app.state.db)
    assert all(row.aggregateid == str(user) for row in rows)
    assert [row.position for row in rows] == sorted(row.position for row in rows)
    updated = rows[1].payload["data"]
    assert updated["changed"] == ["bio"] and updated["values"] == {"bio": "hello"}


async def test_failed_writes_emit_nothing(client: httpx.AsyncClient, app: FastAPI) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    url, me = f"/v1/profiles/{user}", bearer(user)
    await client.put(url, json={"username": "taken_name"}, headers=me)
    before = len(await outbox_rows(app.state.db))
    failures = [
        client.put(url, json={"username": "x"}, headers=me),  # 422
        client.put(url, json={"username": "new"}, headers={**me, "If-Match": '"9"'}),  # 412
        client.put(f"/v1/profiles/{other}", json={"username": "taken_name"}, headers=bearer(other)),
        client.patch(url, json={"timezone": "Nowhere/City"}, headers=me),
        client.put(url, json={"username": "z" * 10}, headers=bearer(other)),  # 403
        client.post(f"{url}/addresses", json={**ADDRESS, "country": "XX"}, headers=me),
        client.put(f"{url}/presence", json={"status": "gone"}, headers=me),
    ]
    for request in failures:
        assert (await request).status_code >= 400
    assert len(await outbox_rows(app.state.db)) == before


async def test_rolled_back_transaction_leaves_no_event(app: FastAPI) -> None:
    async with app.state.db.write_session() as session:
        emit(
            session,
            event_type="profilestore.profiles.ProfileDeleted",
            user_id=uuid.uuid4(),
            aggregatetype="profile",
            data={},
        )
        await session.flush()
        await session.rollback()
    assert await outbox_rows(app.state.db) == []


async def test_envelope_is_cloudevents_and_private_values_stay_out(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = uuid.uuid4()
    body = {"username": "private_user", "timezone": "Asia/Tokyo", "preferences": {"secret": "s3"}}
    await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    await client.post(f"/v1/profiles/{user}/addresses", json=ADDRESS, headers=bearer(user))
    rows = await outbox_rows(app.state.db)
    envelope = rows[0].payload
    assert {
        "id",
        "source",
        "specversion",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "data",
    } <= set(envelope)
    assert envelope["specversion"] == "1.0" and envelope["subject"] == str(user)
    assert envelope["type"] == "profilestore.profiles.ProfileCreated"
    assert envelope["id"] == str(rows[0].id) and envelope["time"].endswith("Z")
    text = str([row.payload for row in rows])
    for secret in ("Asia/Tokyo", "s3", "Main St", "Berlin"):
        assert secret not in text
    assert envelope["data"]["username"] == "private_user"


async def test_private_values_when_configured(client: httpx.AsyncClient, app: FastAPI) -> None:
    app.state.event_options = type(app.state.event_options)(include_private=True)
    user = uuid.uuid4()
    body = {"username": "open_user", "preferences": {"secret": "s3"}}
    await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    await client.post(f"/v1/profiles/{user}/addresses", json=ADDRESS, headers=bearer(user))
    created, added = (row.payload["data"] for row in await outbox_rows(app.state.db))
    assert created["preferences"] == {"secret": "s3"}
    assert added["address"]["city"] == "Berlin"


async def test_relay_publishes_in_order_and_survives_an_outage(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    users = [uuid.uuid4() for _ in range(3)]
    for round_ in range(5):
        for user in users:
            headers = bearer(user)
            if round_ == 0:
                await client.put(
                    f"/v1/profiles/{user}", json={"username": f"r{user.hex[:8]}"}, headers=headers
                )
            else:
                await client.patch(
                    f"/v1/profiles/{user}", json={"bio": f"v{round_}"}, headers=headers
                )
    publisher = RecordingPublisher()
    publisher.down = True
    worker = relay(
        app, publisher, batch_size=4, backoff_initial=0.01, backoff_max=0.05, poll_seconds=0.01
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.3)
    assert publisher.events == [] and publisher.attempts == 0  # connect fails first
    assert all(row.published_at is None for row in await outbox_rows(app.state.db))
    publisher.down = False
    for _ in range(200):
        if len(publisher.events) >= 15:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    rows = await outbox_rows(app.state.db)
    assert [e.id for e in publisher.events] == [str(r.id) for r in rows]
    assert all(row.published_at is not None for row in rows)
    assert sorted(r.published_seq or 0 for r in rows) == list(range(1, 16))
    for user in users:
        versions = [
            loads(e.body)["data"]["version"] for e in publisher.events if e.key == str(user)
        ]
        assert versions == [1, 2, 3, 4, 5]


async def test_two_relays_at_once_keep_order_and_lose_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    publisher = RecordingPublisher()
    relays = [
        relay(app, publisher, batch_size=3, poll_seconds=0.01, lease_seconds=5) for _ in range(2)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    users = [uuid.uuid4() for _ in range(4)]
    for user in users:
        await client.put(
            f"/v1/profiles/{user}", json={"username": f"t{user.hex[:8]}"}, headers=bearer(user)
        )
    for version in range(2, 8):
        for user in users:
            await client.patch(
                f"/v1/profiles/{user}", json={"bio": str(version)}, headers=bearer(user)
            )
    expected = len(await outbox_rows(app.state.db))
    for _ in range(300):
        if len({e.id for e in publisher.events}) >= expected:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*tasks)
    assert len({e.id for e in publisher.events}) == expected == 28
    assert len(publisher.events) == expected  # one active relay: no concurrent duplicates
    for user in users:
        versions = [
            loads(e.body)["data"]["version"] for e in publisher.events if e.key == str(user)
        ]
        assert versions == list(range(1, 8))


async def test_lease_hands_over_when_the_holder_stops(app: FastAPI) -> None:
    first, second = relay(app, lease_seconds=1), relay(app, lease_seconds=1)
    assert await first.lease.acquire()
    assert not await second.lease.acquire()
    await first.lease.release()
    assert await second.lease.acquire()
    assert not await first.lease.acquire()


async def test_feed_pages_by_cursor(client: httpx.AsyncClient, app: FastAPI) -> None:
    for _ in range(5):
        user = uuid.uuid4()
        await client.put(
            f"/v1/profiles/{user}", json={"username": f"f{user.hex[:8]}"}, headers=bearer(user)
        )
    empty = await client.get("/v1/events", headers=SERVICE)
    assert empty.json() == {"items": [], "next_after": 0}  # nothing published yet
    assert await relay(app).drain() == 5
    first = (await client.get("/v1/events", params={"limit": 2}, headers=ADMIN)).json()
    assert [item["seq"] for item in first["items"]] == [1, 2] and first["next_after"] == 2
    rest = (await client.get("/v1/events", params={"after": 2}, headers=ADMIN)).json()
    assert [item["seq"] for item in rest["items"]] == [3, 4, 5]
    ids = [i["event"]["id"] for i in first["items"] + rest["items"]]
    assert ids == [str(row.id) for row in await outbox_rows(app.state.db)]
    assert (await client.get("/v1/events", headers=bearer(uuid.uuid4()))).status_code == 403
    assert (await client.get("/v1/events", params={"limit": 0}, headers=ADMIN)).status_code == 422


def parse_sse(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in block.splitlines()
            if ": " in line and not line.startswith(":")
        )
        if "id" in fields:
            events.append(fields)
    return events


async def test_sse_stream_resumes_from_last_event_id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    worker = relay(app)

    async def write(count: int) -> None:
        for _ in range(count):
            user = uuid.uuid4()
            await client.put(
                f"/v1/profiles/{user}", json={"username": f"s{user.hex[:8]}"}, headers=bearer(user)
            )
        await worker.drain()

    await write(3)
    first = await client.get("/v1/events/stream", params={"max_seconds": 0.3}, headers=SERVICE)
    assert first.status_code == 200 and first.headers["content-type"].startswith(
        "text/event-stream"
    )
    seen = parse_sse(first.text)
    assert [e["id"] for e in seen] == ["1", "2", "3"]
    assert seen[0]["event"] == "profilestore.profiles.ProfileCreated"
    await write(2)
    resumed = await client.get(
        "/v1/events/stream",
        params={"max_seconds": 0.3},
        headers={**SERVICE, "Last-Event-ID": seen[-1]["id"]},
    )
    later = parse_sse(resumed.text)
    assert [e["id"] for e in later] == ["4", "5"]
    all_ids = [loads(e["data"])["id"] for e in seen + later]
    assert all_ids == [str(row.id) for row in await outbox_rows(app.state.db)]
    bad = await client.get("/v1/events/stream", headers={**SERVICE, "Last-Event-ID": "abc"})
    assert bad.status_code == 422


async def test_pruned_cursor_is_410(client: httpx.AsyncClient, app: FastAPI) -> None:
    from profilestore.platform.events.relay import prune_published

    worker = relay(app)
    for _ in range(3):
        user = uuid.uuid4()
        await client.put(
            f"/v1/profiles/{user}", json={"username": f"p{user.hex[:8]}"}, headers=bearer(user)
        )
    await worker.drain()
    assert await prune_published(app.state.db, cutoff_timestamp=4_102_444_800) == 2  # year 2100
    assert len(await outbox_rows(app.state.db)) == 1  # the newest published row stays
    user = uuid.uuid4()
    await client.put(f"/v1/profiles/{user}", json={"username": "after_prune"}, headers=bearer(user))
    await worker.drain()
    gone = await client.get("/v1/events", params={"after": 1}, headers=ADMIN)
    assert gone.status_code == 410 and gone.json()["type"].endswith("cursor-expired")
    current = await client.get("/v1/events", params={"after": 3}, headers=ADMIN)
    assert [i["seq"] for i in current.json()["items"]] == [4]


async def test_metrics_show_backlog_and_publishing(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = uuid.uuid4()
    await client.put(f"/v1/profiles/{user}", json={"username": "metric_user"}, headers=bearer(user))
    await client.patch(f"/v1/profiles/{user}", json={"bio": "b"}, headers=bearer(user))
    before = (await client.get("/metrics")).text
    assert "profilestore_outbox_backlog 2.0" in before
    assert (
        'profilestore_http_request_duration_seconds_count{cache="none",method="PUT",route="/v1/profiles/{user_id}",status="201"}'
        in before
    )
    await relay(app, RecordingPublisher()).drain()
    app.state.backlog_gauges.every_seconds = 0  # the next scrape reads the database again
    after = (await client.get("/metrics")).text
    assert "profilestore_outbox_backlog 0.0" in after
    assert "profilestore_outbox_oldest_unpublished_age_seconds 0.0" in after
    assert 'profilestore_events_published_total{publisher="recording"}' in after


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/stream"])
async def test_feed_needs_a_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
