"""Platform safeguards of issue 8: JWT time claims and lifetime, the Authorization header cap,
/metrics behind a token with a throttled backlog query, the events cursor that is ahead, CORS
answered before authentication, and the relay that runs by default."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import event

from profilestore.settings import Settings
from tests.api.test_events import FeedOnlyPublisher, relay
from tests.support import ADMIN, TEST_SECRET, bearer, client_for

ORIGIN = "https://app.example"


def _signed(**claims: Any) -> dict[str, str]:
    body = {"sub": str(uuid.uuid4()), **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, TEST_SECRET, algorithm='HS256')}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "9999999999"},
        {"exp": True},
        {"exp": int(time.time()) + 60, "nbf": "0"},
        {"exp": int(time.time()) + 60, "iat": "0"},
        {"exp": [1]},
    ],
)
async def test_time_claims_must_be_numbers(client: httpx.AsyncClient, claims: Any) -> None:
    assert (await client.get("/v1/me", headers=_signed(**claims))).status_code == 401


async def test_max_token_lifetime(settings: Settings) -> None:
    settings = settings.model_copy(update={"jwt_max_ttl_seconds": 3600})
    now = int(time.time())
    async with client_for(settings) as client:
        too_long = _signed(iat=now, exp=now + 7200)
        assert (await client.get("/v1/me", headers=too_long)).status_code == 401
        no_iat = _signed(exp=now + 7200)
        assert (await client.get("/v1/me", headers=no_iat)).status_code == 401
        fine = _signed(iat=now, exp=now + 600)
        assert (await client.get("/v1/me", headers=fine)).status_code == 404  # no profile yet


async def test_oversized_authorization_header_is_refused_unread(
    client: httpx.AsyncClient,
) -> None:
    huge = {"Authorization": "Bearer " + "a" * 100_000}
    response = await client.get("/v1/me", headers=huge)
    assert response.status_code == 401 and "exceeds" in response.json()["detail"]


async def test_metrics_token(settings: Settings) -> None:
    settings = settings.model_copy(update={"metrics_token": SecretStr("scrape-secret")})
    async with client_for(settings) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 401
        assert (await client.get("/metrics", headers=ADMIN)).status_code == 401
        right = {"Authorization": "Bearer scrape-secret"}
        assert (await client.get("/metrics", headers=right)).status_code == 200


async def test_metrics_read_the_backlog_at_most_once_per_window(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    queries: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "outbox" in statement:
            queries.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert (await client.get("/metrics")).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(queries) == 1


async def test_cursor_ahead_of_the_feed_is_409(client: httpx.AsyncClient, app: FastAPI) -> None:
    for path in ("/v1/events", "/v1/events/stream"):
        empty = await client.get(path, params={"after": 5}, headers=ADMIN)
        assert empty.status_code == 409 and empty.json()["type"].endswith("cursor-ahead")
    user = uuid.uuid4()
    await client.put(f"/v1/profiles/{user}", json={"username": "ahead_u"}, headers=bearer(user))
    await relay(app, FeedOnlyPublisher()).drain()
    newest = (await client.get("/v1/events", headers=ADMIN)).json()["next_after"]
    caught_up = await client.get("/v1/events", params={"after": newest}, headers=ADMIN)
    assert caught_up.status_code == 200 and caught_up.json()["items"] == []
    ahead = await client.get("/v1/events", params={"after": newest + 1}, headers=ADMIN)
    assert ahead.status_code == 409 and str(newest) in ahead.json()["detail"]
    resumed = await client.get(
        "/v1/events/stream", headers={**ADMIN, "Last-Event-ID": str(newest + 10)}
    )
    assert resumed.status_code == 409


async def test_cors_preflight_is_answered_before_auth(settings: Settings) -> None:
    settings = settings.model_copy(update={"cors_origins": [ORIGIN]})
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match",
    }
    async with client_for(settings) as client:
        allowed = await client.options(f"/v1/profiles/{uuid.uuid4()}", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "PATCH" in allowed.headers["access-control-allow-methods"]
        other = await client.options(
            f"/v1/profiles/{uuid.uuid4()}", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        assert other.status_code != 401
        actual = await client.get("/v1/me", headers={"Origin": ORIGIN})
        assert actual.status_code == 401  # CORS grants no access
        assert actual.headers["access-control-allow-origin"] == ORIGIN
        assert "etag" in actual.headers["access-control-expose-headers"].lower()


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/me", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_relay_runs_in_process_on_every_backend(tmp_path: Path) -> None:
    postgres = Settings(database_url="postgresql+asyncpg://x@127.0.0.1/x", data_dir=tmp_path)
    assert postgres.runs_relay_in_process
    assert Settings(data_dir=tmp_path).runs_relay_in_process
    assert not Settings(data_dir=tmp_path, relay_in_process=False).runs_relay_in_process


async def test_start_up_warns_when_no_relay_runs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from profilestore import app as app_module

    warnings: list[str] = []
    monkeypatch.setattr(app_module.log, "warning", lambda event, **_: warnings.append(event))
    app = app_module.create_app(settings.model_copy(update={"relay_in_process": False}))
    async with app.router.lifespan_context(app):
        pass
    assert warnings == ["no_relay_in_process"]
