"""Idempotency-Key on every write: the first answer is stored with the write, in its
transaction, and replayed; a reused key with another request is 422; concurrent requests with
one key make one write and one event. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from profilestore.domains.profiles.models import Address
from profilestore.platform.idempotency import IdempotencyRecord, prune_expired
from tests.api.test_social import contact_url, make_user
from tests.events_support import outbox_types
from tests.support import bearer

ADDRESS = {"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"}


def keyed(user: uuid.UUID, key: str, **extra: str) -> dict[str, str]:
    return {**bearer(user), "Idempotency-Key": key, **extra}


async def _addresses(app: FastAPI, user: uuid.UUID) -> int:
    async with app.state.db.read_session() as session:
        statement = select(func.count()).select_from(Address).where(Address.user_id == user)
        return int((await session.execute(statement)).scalar_one())


async def test_a_retried_post_is_replayed(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    url = f"/v1/profiles/{user}/addresses"
    first = await client.post(url, json=ADDRESS, headers=keyed(user, "k-1"))
    again = await client.post(url, json=ADDRESS, headers=keyed(user, "k-1"))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert await _addresses(app, user) == 1
    assert (await outbox_types(app.state.db)).count("AddressAdded") == 1


async def test_the_same_key_for_another_request_is_422(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    url = f"/v1/profiles/{user}/addresses"
    assert (await client.post(url, json=ADDRESS, headers=keyed(user, "k-2"))).status_code == 201
    other = await client.post(url, json={**ADDRESS, "city": "Paris"}, headers=keyed(user, "k-2"))
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    elsewhere = await client.put(
        f"/v1/profiles/{user}", json={"username": f"x{user.hex[:8]}"}, headers=keyed(user, "k-2")
    )
    assert elsewhere.status_code == 422


async def test_keys_are_scoped_to_the_caller(client: httpx.AsyncClient, app: FastAPI) -> None:
    one, two = await make_user(client), await make_user(client)
    for user in (one, two):
        response = await client.post(
            f"/v1/profiles/{user}/addresses", json=ADDRESS, headers=keyed(user, "shared")
        )
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert await _addresses(app, one) == await _addresses(app, two) == 1


async def test_put_patch_and_delete_replay(client: httpx.AsyncClient, app: FastAPI) -> None:
    user, friend = await make_user(client), await make_user(client)
    put = [await client.put(contact_url(user, friend), headers=keyed(user, "p")) for _ in range(2)]
    assert [p.status_code for p in put] == [201, 201]  # the replay is the first answer
    patch_headers = keyed(user, "m", **{"Content-Type": "application/merge-patch+json"})
    patches = [
        await client.patch(contact_url(user, friend), json={"nickname": "n"}, headers=patch_headers)
        for _ in range(2)
    ]
    assert patches[0].json() == patches[1].json() and patches[1].json()["version"] == 2
    deletes = [
        await client.delete(contact_url(user, friend), headers=keyed(user, "d")) for _ in "ab"
    ]
    assert [d.status_code for d in deletes] == [204, 204]
    assert deletes[1].headers["idempotent-replayed"] == "true"
    types = await outbox_types(app.state.db)
    assert types.count("ContactAdded") == types.count("ContactUpdated") == 1
    assert types.count("ContactRemoved") == 1


async def test_a_refused_request_is_not_stored(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    url = f"/v1/profiles/{user}/addresses"
    bad = await client.post(url, json={**ADDRESS, "country": "XX"}, headers=keyed(user, "r"))
    assert bad.status_code == 422
    fixed = await client.post(url, json={**ADDRESS, "country": "XX"}, headers=keyed(user, "r"))
    assert fixed.status_code == 422 and "idempotent-replayed" not in fixed.headers
    async with app.state.db.read_session() as session:
        assert (
            await session.execute(select(func.count()).select_from(IdempotencyRecord))
        ).scalar() == 0


async def test_an_expired_key_runs_again(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    url = f"/v1/profiles/{user}/addresses"
    assert (await client.post(url, json=ADDRESS, headers=keyed(user, "old"))).status_code == 201
    async with app.state.db.write_session() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await session.execute(update(IdempotencyRecord).values(expires_at=past))
        await session.commit()
    again = await client.post(url, json=ADDRESS, headers=keyed(user, "old"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert await _addresses(app, user) == 2
    async with app.state.db.write_session() as session:
        await session.execute(update(IdempotencyRecord).values(expires_at=past))
        await session.commit()
    assert await prune_expired(app.state.db) == 1


@pytest.mark.parametrize("key", ["", " ", "a" * 256, "tab\there", "é"])
async def test_malformed_keys_are_refused(client: httpx.AsyncClient, key: str) -> None:
    user = await make_user(client)
    response = await client.post(
        f"/v1/profiles/{user}/addresses",
        json=ADDRESS,
        headers={**bearer(user), "Idempotency-Key": key.encode()},  # type: ignore[dict-item]
    )
    assert response.status_code == 422, response.text


async def test_a_key_on_a_read_is_ignored(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    reads = [await client.get(f"/v1/profiles/{user}", headers=keyed(user, "g")) for _ in "ab"]
    assert all("idempotent-replayed" not in r.headers for r in reads)


async def test_twenty_concurrent_requests_with_one_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    url = f"/v1/profiles/{user}/addresses"
    answers = await asyncio.gather(
        *(client.post(url, json=ADDRESS, headers=keyed(user, "race")) for _ in range(20))
    )
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    bodies = {a.content for a in answers if a.status_code == 201}
    assert len(bodies) == 1  # identical answers
    assert await _addresses(app, user) == 1
    assert (await outbox_types(app.state.db)).count("AddressAdded") == 1


def test_every_write_documents_the_header(app: FastAPI) -> None:
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/") and method in {"post", "put", "patch", "delete"}:
                names = [p["name"] for p in operation.get("parameters", [])]
                assert "Idempotency-Key" in names, (method, path)
