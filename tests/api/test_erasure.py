"""POST /v1/profiles/{user_id}/erase (both databases): after it, no table holds a row of the
user (a table added later that the cascade forgets fails here), other users' rows pointing
at them are gone with their owners told, the videos' aggregates no longer count their
ratings, their events and idempotency records are gone, and one ProfileErased tombstone
with the user id only is in the outbox; nobody else's data is touched."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Uuid, func, select

from profilestore.migrations.runner import target_metadata
from profilestore.platform.events.outbox import OutboxRow
from profilestore.platform.idempotency import IdempotencyRecord
from tests.api.test_hub import fill_every_domain
from tests.api.test_social import block_url, contact_url, make_user
from tests.support import ADMIN, SERVICE, bearer

KEPT = {"audit_log", "erasure_requests"}
"""User-keyed tables that may keep a row after an erasure: the record that it happened, and
the erasures domain services have yet to confirm."""


async def rows_of(app: FastAPI, user: uuid.UUID) -> dict[str, int]:
    """Rows per table that hold ``user`` in any UUID column."""
    found: dict[str, int] = {}
    async with app.state.db.read_session() as session:
        for table in target_metadata().sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, Uuid)]
            for column in columns:
                count = select(func.count()).select_from(table).where(column == user)
                rows = (await session.execute(count)).scalar_one()
                if rows:
                    found[f"{table.name}.{column.name}"] = rows
    return found


async def outbox(app: FastAPI, aggregate: uuid.UUID) -> list[OutboxRow]:
    async with app.state.db.read_session() as session:
        statement = select(OutboxRow).where(OutboxRow.aggregateid == str(aggregate))
        return list((await session.execute(statement.order_by(OutboxRow.position))).scalars())


async def video(client: httpx.AsyncClient, video_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/videos/{video_id}/ratings", headers=ADMIN)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def fill_with_neighbours(
    client: httpx.AsyncClient, user: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """Fill every domain for ``user``; a neighbour has them as a contact and rates the same
    video, a blocker blocks them. Writes carry Idempotency-Keys."""
    await fill_every_domain(client, user)
    neighbour, blocker = await make_user(client), await make_user(client)
    await fill_every_domain(client, neighbour)
    writes = [(contact_url(neighbour, user), neighbour), (block_url(blocker, user), blocker)]
    for url, who in writes:
        keyed = {**bearer(who), "Idempotency-Key": "k"}
        assert (await client.put(url, json={}, headers=keyed)).status_code == 201
    for who, stars in ((user, 5), (neighbour, 1)):
        rate = {**bearer(who), "Idempotency-Key": "rate"}
        url = f"/v1/profiles/{who}/ratings/shared-video"
        answer = await client.put(url, json={"stars": stars, "review": "hm"}, headers=rate)
        assert answer.status_code == 201, answer.text
    return neighbour, blocker


async def test_erasure_leaves_no_row_of_the_user_and_tells_everyone(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    neighbour, blocker = await fill_with_neighbours(client, user)
    before = await rows_of(app, neighbour)
    assert (await video(client, "shared-video"))["count"] == 2

    answer = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["user_id"] == str(user)
    assert {"profiles", "social", "media", "nutrition", "movement"} <= set(report["domains"])
    assert all(d["status"] == "erased" for d in report["domains"].values())
    assert report["domains"]["nutrition"]["rows"] >= 4
    assert report["domains"]["social"]["rows"] == 1  # their contact of a friend
    assert set(await rows_of(app, user)) <= {f"{name}.user_id" for name in KEPT}
    tombstone = await outbox(app, user)
    assert [row.type for row in tombstone] == ["profilestore.profiles.ProfileErased"]
    assert tombstone[0].payload["data"] == {"user_id": str(user)}
    ratings = await video(client, "shared-video")
    assert (ratings["count"], ratings["average"]) == (1, 1.0)
    after = await rows_of(app, neighbour)
    assert after.pop("contacts.user_id") == before.pop("contacts.user_id") - 1
    assert after.pop("audit_log.user_id") == before.pop("audit_log.user_id") + 1
    assert after == before  # nothing else of the neighbour changed
    assert "blocks.user_id" not in await rows_of(app, blocker)
    assert (await outbox(app, neighbour))[-1].type == "profilestore.social.ContactRemoved"
    assert (await outbox(app, blocker))[-1].type == "profilestore.social.UserUnblocked"
    async with app.state.db.read_session() as session:
        callers = (await session.execute(select(IdempotencyRecord.caller))).scalars().all()
    assert callers == [str(neighbour)]  # their rating; the contact and the block named the user


async def test_the_neighbours_idempotency_records_that_embed_the_user_go(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, neighbour = await make_user(client), await make_user(client)
    keyed = {**bearer(neighbour), "Idempotency-Key": "add"}
    answer = await client.put(contact_url(neighbour, user), json={}, headers=keyed)
    assert answer.status_code == 201 and str(user) in answer.text
    assert (await client.post(f"/v1/profiles/{user}/erase", headers=ADMIN)).status_code == 200
    async with app.state.db.read_session() as session:
        kept = (await session.execute(select(func.count()).select_from(IdempotencyRecord))).scalar()
    assert kept == 0


async def test_erasing_again_is_harmless_and_a_retry_replays(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    keyed = {**bearer(user), "Idempotency-Key": "erase-1"}
    first = await client.post(f"/v1/profiles/{user}/erase", headers=keyed)
    replay = await client.post(f"/v1/profiles/{user}/erase", headers=keyed)
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == first.json()
    again = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
    assert again.status_code == 200
    rows = {name: d["rows"] for name, d in again.json()["domains"].items()}
    assert rows.pop("platform") == 1  # the audit record of the first erasure
    assert set(rows.values()) == {0}
    assert len(await outbox(app, user)) == 2  # one tombstone each time
    assert (await client.get(f"/v1/profiles/{user}", headers=ADMIN)).status_code == 404


async def test_a_failed_erasure_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)
    before = await rows_of(app, user)

    async def broken(*_: object) -> None:
        raise RuntimeError("the last step fails")

    monkeypatch.setattr("profilestore.platform.erasure._forget_idempotency", broken)
    answer = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
    assert answer.status_code == 500
    assert await rows_of(app, user) == before


@pytest.mark.parametrize("caller", ["stranger", "anonymous"])
async def test_only_the_user_admins_and_services_may_erase(
    client: httpx.AsyncClient, caller: str
) -> None:
    user = await make_user(client)
    headers = bearer(uuid.uuid4()) if caller == "stranger" else {}
    refused = await client.post(f"/v1/profiles/{user}/erase", headers=headers)
    assert refused.status_code == (404 if caller == "stranger" else 401)
    assert (await client.get(f"/v1/profiles/{user}", headers=ADMIN)).status_code == 200
    assert (await client.post(f"/v1/profiles/{user}/erase", headers=SERVICE)).status_code == 200
