"""GraphQL when domains are served elsewhere (PROFILESTORE_HUB_DOMAINS): fields and
createUserProfile steps of a remote domain go to its service over HTTP with the caller's
token; a slow or down service gives its fields null with `timeout` / `unavailable` and the
rest of the answer; createUserProfile's remote steps carry Idempotency-Keys derived from the
mutation's, so a retry completes what failed and repeats nothing. The hub runs in process on
SQLite; the domain service is a real loopback server on its own database (nutrition and
movement only, split mode)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from profilestore.app import create_app
from profilestore.settings import Settings
from tests.api.test_graphql import CREATE, codes, graphql, onboarding_input
from tests.loopback import serve_in_thread
from tests.serving import free_port, running_server, service_env
from tests.support import TEST_SECRET, bearer

REMOTE_PARTS = ("nutrition", "movement")


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="module")
def domain_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``profilestore serve --domains nutrition,movement`` on its own SQLite database (a real
    process: the domain registry is per process)."""
    directory = tmp_path_factory.mktemp("graphql-domains")
    env = service_env(
        database_url=f"sqlite+aiosqlite:///{directory / 'domains.db'}",
        jwt_secret=TEST_SECRET,
        data_dir=str(directory),
        log_level="WARNING",
        rate_limit_enabled="false",
    )
    with running_server(env, directory, ["--domains", ",".join(REMOTE_PARTS)]) as (base, _):
        yield base


class Sleeper:
    """A service that answers every request after ``delay`` seconds."""

    def __init__(self) -> None:
        self.delay = 5.0

    def app(self) -> Starlette:
        methods = ["GET", "PUT", "POST", "PATCH"]
        return Starlette(routes=[Route("/{path:path}", self.answer, methods=methods)])

    async def answer(self, request: Request) -> Response:
        await asyncio.sleep(self.delay)
        return Response(b"{}", media_type="application/json")


@asynccontextmanager
async def hub(settings: Settings, remotes: dict[str, str], **changes: Any) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"hub_domains": remotes, **changes}))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client
    finally:
        await app.state.hub_remotes.aclose()
        await app.state.verifier.aclose()
        await app.state.db.dispose()


READ = """query R($id: UUID!) { user(id: $id) {
  profile { username } body { heightCm } eating { diet } movement { daysPerWeek } } }"""


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["status"] for s in body["data"]["createUserProfile"]["steps"]}


async def test_onboarding_and_reads_across_services(
    settings: Settings, domain_service: str
) -> None:
    remotes = dict.fromkeys(REMOTE_PARTS, domain_service)
    user = uuid.uuid4()
    given = {"input": onboarding_input(f"u{user.hex[:10]}")}
    key = {"Idempotency-Key": f"onboard-{user}"}
    async with hub(settings, remotes) as client:
        first = await graphql(client, CREATE, bearer(user) | key, given)
        assert "errors" not in first, first
        assert set(statuses(first).values()) == {"created"}, first
        again = await graphql(client, CREATE, bearer(user) | key, given)
        assert set(statuses(again).values()) == {"unchanged"}, again
        read = await graphql(client, READ, bearer(user), {"id": str(user)})
        assert "errors" not in read, read
        assert read["data"]["user"]["body"] == {"heightCm": 180}
        assert read["data"]["user"]["movement"] == {"daysPerWeek": 3}
        stranger = await graphql(client, READ, bearer(uuid.uuid4()), {"id": str(user)})
        assert stranger["data"]["user"]["body"] is None
    async with httpx.AsyncClient(base_url=domain_service) as remote:
        stored = await remote.get(f"/v1/profiles/{user}/eating", headers=bearer(user))
        assert stored.status_code == 200 and stored.json()["diet"] == "vegetarian"
        refused = await remote.get(f"/v1/profiles/{user}/eating", headers=bearer(uuid.uuid4()))
        assert refused.status_code == 404


async def test_a_down_service_fails_its_steps_and_a_retry_completes_them(
    settings: Settings, domain_service: str
) -> None:
    user = uuid.uuid4()
    given = {"input": onboarding_input(f"u{user.hex[:10]}")}
    key = {"Idempotency-Key": f"retry-{user}"}
    down = f"http://127.0.0.1:{free_port()}"
    async with hub(settings, dict.fromkeys(REMOTE_PARTS, down)) as client:
        first = await graphql(client, CREATE, bearer(user) | key, given)
        steps = {s["step"]: s for s in first["data"]["createUserProfile"]["steps"]}
        assert steps["profile"]["status"] == "created"
        for name in ("body", "eating", "movement"):
            assert steps[name]["status"] == "failed"
            assert steps[name]["error"]["code"] == "unavailable"
        read = await graphql(client, READ, bearer(user), {"id": str(user)})
        assert read["data"]["user"]["profile"]["username"]
        assert read["data"]["user"]["body"] is None and "unavailable" in codes(read)
    async with hub(settings, dict.fromkeys(REMOTE_PARTS, domain_service)) as client:
        retried = await graphql(client, CREATE, bearer(user) | key, given)
        assert statuses(retried) == {
            "profile": "unchanged",
            "body": "created",
            "eating": "created",
            "movement": "created",
        }


async def test_a_slow_service_is_a_timeout_within_the_budget(settings: Settings) -> None:
    sleeper = Sleeper()
    with serve_in_thread(sleeper.app()) as slow:
        user = uuid.uuid4()
        async with hub(settings, {"movement": slow}, hub_timeout_ms=300) as client:
            made = await client.put(
                f"/v1/profiles/{user}", json={"username": f"u{user.hex[:10]}"}, headers=bearer(user)
            )
            assert made.status_code == 201
            started = time.monotonic()
            read = await graphql(client, READ, bearer(user), {"id": str(user)})
            elapsed = time.monotonic() - started
        assert (
            read["data"]["user"]["profile"]["username"] and read["data"]["user"]["movement"] is None
        )
        assert codes(read) == ["timeout"] and read["errors"][0]["path"][-1] == "movement"
        assert elapsed < 0.3 + 1.0
