"""Export and erasure when domains are served elsewhere (PROFILESTORE_HUB_DOMAINS): the hub
streams each service's export under ``services`` and erases the user in every service; a
service that is down is named in ``incomplete`` (export) or left ``pending`` (erasure, 202),
written down and erased by the background retry once it is back. The hub runs in process on
SQLite; the domain service is a real ``profilestore serve --domains nutrition,movement``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from profilestore.app import create_app
from profilestore.platform.erasure import ErasureRequest
from profilestore.settings import Settings
from tests.api.test_graphql_remote import REMOTE_PARTS, domain_service
from tests.serving import free_port
from tests.support import bearer

SERVICE_KEY = ",".join(REMOTE_PARTS)
__all__ = ["domain_service"]


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url


@asynccontextmanager
async def hub(settings: Settings, base: str) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    remotes = dict.fromkeys(REMOTE_PARTS, base)
    app = create_app(
        settings.model_copy(update={"hub_domains": remotes, "hub_erasure_retry_seconds": 0.05})
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client, app
    finally:
        await app.state.hub_remotes.aclose()
        await app.state.verifier.aclose()
        await app.state.db.dispose()


async def make_user_with_body(client: httpx.AsyncClient, service: str) -> uuid.UUID:
    user = uuid.uuid4()
    made = await client.put(
        f"/v1/profiles/{user}", json={"username": f"u{user.hex[:10]}"}, headers=bearer(user)
    )
    assert made.status_code == 201
    async with httpx.AsyncClient(base_url=service) as remote:
        body = {"height_cm": 181, "weight_kg": 80, "birth_date": "1991-02-03"}
        stored = await remote.put(f"/v1/profiles/{user}/body", json=body, headers=bearer(user))
        assert stored.status_code == 201, stored.text
    return user


async def remote_body(service: str, user: uuid.UUID) -> int:
    async with httpx.AsyncClient(base_url=service) as remote:
        answer = await remote.get(f"/v1/profiles/{user}/body", headers=bearer(user))
        return answer.status_code


async def test_the_export_holds_every_service_s_document(
    settings: Settings, domain_service: str
) -> None:
    async with hub(settings, domain_service) as (client, _):
        user = await make_user_with_body(client, domain_service)
        answer = await client.get(f"/v1/profiles/{user}/export", headers=bearer(user))
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    assert document["sections"]["profiles"]["profiles"][0]["user_id"] == str(user)
    remote = document["services"][SERVICE_KEY]
    assert remote["user_id"] == str(user)
    assert remote["sections"]["nutrition"]["nutrition_body"][0]["height_cm"] == 181
    assert document["incomplete"] == []


async def test_a_down_service_is_named_incomplete_in_the_export(settings: Settings) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with hub(settings, down) as (client, _):
        user = uuid.uuid4()
        answer = await client.get(f"/v1/profiles/{user}/export", headers=bearer(user))
    document = answer.json()
    assert document["services"] == {SERVICE_KEY: {"error": "unavailable"}}
    assert document["incomplete"] == [SERVICE_KEY]


async def test_erasure_reaches_every_service(settings: Settings, domain_service: str) -> None:
    async with hub(settings, domain_service) as (client, _):
        user = await make_user_with_body(client, domain_service)
        assert await remote_body(domain_service, user) == 200
        answer = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
    assert answer.status_code == 200, answer.text
    domains = answer.json()["domains"]
    assert domains["nutrition"] == {"status": "erased", "rows": 2, "error": None}
    assert domains["movement"]["status"] == domains["profiles"]["status"] == "erased"
    assert await remote_body(domain_service, user) == 404


async def test_an_unconfirmed_erasure_is_retried_until_the_service_confirms(
    settings: Settings, domain_service: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with hub(settings, domain_service) as (client, _):
        user = await make_user_with_body(client, domain_service)
    async with hub(settings, down) as (client, app):
        answer = await client.post(f"/v1/profiles/{user}/erase", headers=bearer(user))
        assert answer.status_code == 202, answer.text
        pending = answer.json()["domains"]["nutrition"]
        assert pending == {"status": "pending", "rows": None, "error": "unavailable"}
        assert await app.state.remote_privacy.retry_due(app.state.db) == 0
    await asyncio.sleep(0.2)  # past the (test's short) delay before the next attempt
    assert await remote_body(domain_service, user) == 200
    async with hub(settings, domain_service) as (client, app):
        assert await app.state.remote_privacy.retry_due(app.state.db) == 1
        async with app.state.db.read_session() as session:
            left = (await session.execute(select(ErasureRequest))).scalars().all()
    assert left == []
    assert await remote_body(domain_service, user) == 404
