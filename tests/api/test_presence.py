"""Presence: heartbeats per device in the presence store, never the profile row; transitions
announced once; expiry by TTL; last_seen written behind; many users at once, blocks applied."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from profilestore.domains.profiles import presence
from profilestore.domains.profiles.models import Profile
from profilestore.settings import Settings
from tests.api.test_profiles import StatementCounter
from tests.events_support import outbox_rows
from tests.support import ADMIN, SERVICE, bearer, client_for


async def create(client: httpx.AsyncClient, user: uuid.UUID) -> httpx.Response:
    body = {"username": f"p{user.hex[:12]}"}
    response = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert response.status_code == 201
    return response


async def beat(
    client: httpx.AsyncClient, user: uuid.UUID, status: str, device: str = "phone", **extra: Any
) -> httpx.Response:
    body = {"status": status, "device_id": device, **extra}
    return await client.put(f"/v1/profiles/{user}/presence", json=body, headers=bearer(user))


async def presence_events(app: FastAPI, user: uuid.UUID) -> list[dict[str, Any]]:
    return [
        row.payload["data"]
        for row in await outbox_rows(app.state.db)
        if row.type.endswith("PresenceChanged") and row.aggregateid == str(user)
    ]


async def durable_last_seen(app: FastAPI, user: uuid.UUID) -> Any:
    async with app.state.db.read_session() as session:
        return (
            await session.execute(select(Profile.last_seen).where(Profile.user_id == user))
        ).scalar_one()


async def test_heartbeats_leave_the_profile_and_its_etag_alone(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = uuid.uuid4()
    created = await create(client, user)
    tag = created.headers["etag"]
    stranger = await client.put(
        f"/v1/profiles/{user}/presence", json={"status": "online"}, headers=bearer(uuid.uuid4())
    )
    assert stranger.status_code == 403
    for status in ("online", "away", "online", "busy"):
        answer = await beat(client, user, status)
        assert answer.status_code == 200 and answer.json()["status"] == status
    again = await client.get(f"/v1/profiles/{user}", headers={**bearer(user), "If-None-Match": tag})
    assert again.status_code == 304  # same version, same ETag
    assert "status" not in (await client.get(f"/v1/profiles/{user}", headers=ADMIN)).json()


async def test_missing_profile_and_bad_heartbeats(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    assert (await beat(client, user, "online")).status_code == 404
    await create(client, user)
    for bad in (
        {"status": "gone"},
        {"status": "away", "last_seen": "2999-01-01T00:00:00Z"},
        {"status": "away", "last_seen": "2026-01-02T03:04:05"},
        {"status": "away", "device_id": "no spaces"},
        {"status": "away", "device_id": "x" * 65},
        {},
    ):
        response = await client.put(f"/v1/profiles/{user}/presence", json=bad, headers=bearer(user))
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    explicit = await beat(client, user, "away", last_seen="2026-01-02T03:04:05+01:00")
    assert explicit.json()["last_seen"] == "2026-01-02T02:04:05Z"


async def test_online_while_any_device_is_and_events_on_transitions_only(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = uuid.uuid4()
    await create(client, user)
    steps = [
        ("phone", "online", "online"),
        ("phone", "online", "online"),  # no transition: no event
        ("laptop", "away", "online"),  # the highest device status wins
        ("phone", "offline", "away"),
        ("laptop", "away", "away"),
        ("laptop", "offline", "offline"),
    ]
    for device, status, expected in steps:
        answer = (await beat(client, user, status, device)).json()
        assert answer["status"] == expected, (device, status)
    statuses = [event["status"] for event in await presence_events(app, user)]
    assert statuses == ["online", "away", "offline"]
    devices = [event["devices"] for event in await presence_events(app, user)]
    assert devices == [1, 1, 0]


async def test_last_seen_is_written_behind(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = uuid.uuid4()
    await create(client, user)
    first = await beat(client, user, "online", last_seen="2026-01-01T00:00:00Z")
    assert first.status_code == 200
    written = await durable_last_seen(app, user)
    assert written is not None and written.year == 2026 and written.month == 1
    await beat(client, user, "online", last_seen="2026-01-01T00:05:00Z")
    assert await durable_last_seen(app, user) == written  # within the write-behind interval
    await beat(client, user, "offline", last_seen="2026-01-01T00:06:00Z")
    assert (await durable_last_seen(app, user)).minute == 6  # going offline writes it


async def test_a_silent_device_goes_offline_by_itself(settings: Settings) -> None:
    quick = settings.model_copy(update={"presence_ttl_seconds": 1.0})
    async with client_for(quick) as client:
        app: FastAPI = client._transport.app  # type: ignore[attr-defined]
        user = uuid.uuid4()
        await create(client, user)
        await beat(client, user, "online")
        await asyncio.sleep(1.2)
        read = await client.get(f"/v1/profiles/{user}/presence", headers=bearer(user))
        assert read.json()["status"] == "offline" and read.json()["devices"] == 0
        assert await presence.sweep_once(app.state.db, app.state.presence) == 1
        assert await presence.sweep_once(app.state.db, app.state.presence) == 0  # once only
        statuses = [event["status"] for event in await presence_events(app, user)]
        assert statuses == ["online", "offline"]
        assert await durable_last_seen(app, user) is not None


async def test_presence_of_many_users(client: httpx.AsyncClient, app: FastAPI) -> None:
    me, friend, blocker, ghost = (uuid.uuid4() for _ in range(4))
    for user in (me, friend, blocker):
        await create(client, user)
    await beat(client, friend, "online")
    await beat(client, blocker, "busy")
    ids = ",".join(str(u) for u in (blocker, ghost, friend, me))
    everyone = (await client.get("/v1/presence", params={"ids": ids}, headers=bearer(me))).json()
    assert [item["user_id"] for item in everyone["items"]] == [str(blocker), str(friend), str(me)]
    others = [item for item in everyone["items"] if item["user_id"] != str(me)]
    assert all(set(item) == {"user_id", "status"} for item in others)  # public view
    assert (
        await client.put(f"/v1/profiles/{blocker}/blocks/{me}", headers=bearer(blocker))
    ).is_success
    after = (await client.get("/v1/presence", params={"ids": ids}, headers=bearer(me))).json()
    assert [item["user_id"] for item in after["items"]] == [str(friend), str(me)]
    single = await client.get(f"/v1/profiles/{blocker}/presence", headers=bearer(me))
    assert single.status_code == 404
    others = f"{friend},{blocker},{ghost}"
    await client.get("/v1/presence", params={"ids": others}, headers=bearer(me))
    async with StatementCounter(app) as counter:  # warm: profiles, blocks and presence cached
        again = await client.get("/v1/presence", params={"ids": others}, headers=bearer(me))
    assert again.json()["items"] == after["items"][:1] and counter.statements == []
    full = (await client.get("/v1/presence", params={"ids": ids}, headers=SERVICE)).json()
    assert {item["status"] for item in full["items"]} == {"busy", "online", "offline"}
    assert all("last_seen" in item and "devices" in item for item in full["items"])


@pytest.mark.parametrize("ids", ["", "nope", ",".join(str(uuid.uuid4()) for _ in range(501))])
async def test_presence_list_refuses_bad_ids(client: httpx.AsyncClient, ids: str) -> None:
    response = await client.get("/v1/presence", params={"ids": ids}, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_deleting_a_profile_forgets_its_presence(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = uuid.uuid4()
    await create(client, user)
    await beat(client, user, "online")
    assert (await client.delete(f"/v1/profiles/{user}", headers=bearer(user))).status_code == 204
    assert await app.state.presence.states([user], 0) == {}


async def test_a_transition_whose_transaction_fails_is_announced_again(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store announced `online`, then the transaction failed: the store takes it back,
    and the next heartbeat announces the transition (nothing is lost)."""
    user = uuid.uuid4()
    await create(client, user)
    real = presence.write_last_seen

    async def failing(*args: Any) -> bool:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(presence, "write_last_seen", failing)
    assert (await beat(client, user, "online")).status_code >= 500
    assert await presence_events(app, user) == []
    monkeypatch.setattr(presence, "write_last_seen", real)
    assert (await beat(client, user, "online")).json()["status"] == "online"
    assert [event["status"] for event in await presence_events(app, user)] == ["online"]


async def test_offline_events_that_fail_to_commit_are_swept_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = settings.model_copy(update={"presence_ttl_seconds": 1.0})
    async with client_for(quick) as client:
        app: FastAPI = client._transport.app  # type: ignore[attr-defined]
        user = uuid.uuid4()
        await create(client, user)
        await beat(client, user, "busy")
        await asyncio.sleep(1.1)
        real = presence.background_work

        def failing(db: Any) -> Any:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(presence, "background_work", failing)
        with pytest.raises(RuntimeError):
            await presence.sweep_once(app.state.db, app.state.presence)
        monkeypatch.setattr(presence, "background_work", real)
        assert await presence.sweep_once(app.state.db, app.state.presence) == 0  # not yet due
        await asyncio.sleep(presence.RETRY_MS / 1000 + 0.1)
        assert await presence.sweep_once(app.state.db, app.state.presence) == 1
        statuses = [event["status"] for event in await presence_events(app, user)]
        assert statuses == ["busy", "offline"]


async def test_concurrent_heartbeats_emit_one_event(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = uuid.uuid4()
    await create(client, user)
    answers = await asyncio.gather(*(beat(client, user, "online", f"d{i}") for i in range(10)))
    assert all(answer.status_code == 200 for answer in answers)
    assert [event["status"] for event in await presence_events(app, user)] == ["online"]
