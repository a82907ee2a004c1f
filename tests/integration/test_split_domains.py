"""Domains as separate services: a process serving a subset of the domains
(``PROFILESTORE_DOMAINS``) on a database migrated for them alone. Nutrition, movement and media
work without the profiles domain (the platform's owner directory anchors their writes), the
timezone identity pushes (``PUT /v1/owners/{user_id}``) rebuckets nutrition, the routes of the
other domains are not there, and the aggregate answers with the local sections only."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import inspect, select

from profilestore.app import create_app, route_access
from profilestore.domains.nutrition.models import RollupZone
from profilestore.domains.registry import DOMAINS
from profilestore.migrations import runner
from profilestore.platform import owners
from profilestore.platform.registry import install
from profilestore.settings import Settings
from tests.integration.test_migrations import PLATFORM_TABLES, search_word_trigrams
from tests.serving import BIN, postgres_env, running_server, service_env
from tests.support import ADMIN, SERVICE, TEST_SECRET, bearer, postgres_database, token

LATE_EVENING = "2026-03-10T23:30:00Z"
"""10 March in UTC, 11 March in Paris (UTC+1 until the end of March)."""


@pytest.fixture(autouse=True)
def reinstall_every_domain() -> Iterator[None]:
    """A split app installs its domains process-wide; the other tests expect all of them."""
    yield
    install(DOMAINS)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@asynccontextmanager
async def split_app(
    backend: str, tmp_path: Path, domains: list[str]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app serving ``domains`` on a database of its own, migrated for them alone."""
    async with _database(backend, tmp_path, domains) as url:
        settings = Settings(
            database_url=url,
            jwt_secret=TEST_SECRET,
            data_dir=tmp_path,
            rate_limit_enabled=False,
            domains=domains,
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield app, client
        finally:
            await app.state.verifier.aclose()
            await app.state.db.dispose()


@asynccontextmanager
async def _database(backend: str, tmp_path: Path, domains: list[str]) -> AsyncIterator[str]:
    """A database of ``backend`` migrated for ``domains`` (dropped afterwards on PostgreSQL).
    Alembic and the database set-up run their own event loops: in a thread."""
    postgres: Any = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'split.db'}"
    else:
        postgres = postgres_database(migrate=False)
        url = await asyncio.to_thread(postgres.__enter__)
    try:
        await asyncio.to_thread(runner.upgrade, url, domains=domains)
        yield url
    finally:
        if postgres is not None:
            await asyncio.to_thread(postgres.__exit__, None, None, None)


async def tables(app: FastAPI) -> set[str]:
    async with app.state.db.engine.connect() as conn:
        names: set[str] = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    fts = {name for name in names if search_word_trigrams(name)}  # SQLite's FTS5 index
    return names - fts - {"alembic_version", "sqlite_sequence"}


def nutrition(user: uuid.UUID, path: str) -> str:
    return f"/v1/profiles/{user}/{path}"


async def write_nutrition(client: httpx.AsyncClient, user: uuid.UUID) -> None:
    me = bearer(user)
    body = {"height_cm": 180, "weight_kg": 80, "birth_date": "1990-01-01", "sex": "male"}
    answers = [
        await client.put(nutrition(user, "body"), json=body, headers=me),
        await client.put(nutrition(user, "eating"), json={"diet": "vegan"}, headers=me),
        await client.post(
            nutrition(user, "calories"),
            json={"kind": "consumed", "kcal": 600, "at": LATE_EVENING},
            headers=me,
        ),
    ]
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]


async def daily(client: httpx.AsyncClient, user: uuid.UUID) -> dict[str, Any]:
    answer = await client.get(
        nutrition(user, "calories/summary?granularity=day&from=2026-03-10&to=2026-03-11"),
        headers=bearer(user),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def consumed_by_day(summary: dict[str, Any]) -> dict[str, float]:
    return {bucket["start"]: bucket["consumed"] for bucket in summary["buckets"]}


async def test_nutrition_alone_serves_users_no_profile_table_knows(
    backend: str, tmp_path: Path
) -> None:
    async with split_app(backend, tmp_path, ["nutrition"]) as (app, client):
        held = await tables(app)
        assert (
            "profiles" not in held and "nutrition_body" in held and "movement_profiles" not in held
        )
        user = uuid.uuid4()  # made by identity, elsewhere
        await write_nutrition(client, user)

        body = await client.get(nutrition(user, "body"), headers=bearer(user))
        assert body.status_code == 200 and body.json()["height_cm"] == 180
        eating = await client.get(nutrition(user, "eating"), headers=bearer(user))
        assert eating.status_code == 200 and eating.json()["diet"] == "vegan"
        summary = await daily(client, user)
        assert summary["timezone"] == "UTC"
        assert consumed_by_day(summary) == {"2026-03-10": 600, "2026-03-11": 0}
        # A user with nothing here reads as any user with no data: no 500, no profile 404.
        stranger = uuid.uuid4()
        assert (
            (await client.get(nutrition(stranger, "body"), headers=bearer(stranger)))
            .json()["type"]
            .endswith("not-found")
        )
        listed = await client.get(nutrition(stranger, "calories"), headers=bearer(stranger))
        assert listed.status_code == 200 and listed.json()["items"] == []
        # The owner directory anchored the writes: one row, made by the first write.
        owner = await client.get(f"/v1/owners/{user}", headers=SERVICE)
        assert owner.status_code == 200, owner.text
        assert owner.json()["timezone"] is None


async def test_the_owner_timezone_rebuckets_the_summary(backend: str, tmp_path: Path) -> None:
    async with split_app(backend, tmp_path, ["nutrition"]) as (app, client):
        user = uuid.uuid4()
        await write_nutrition(client, user)
        assert consumed_by_day(await daily(client, user)) == {"2026-03-10": 600, "2026-03-11": 0}

        pushed = await client.put(
            f"/v1/owners/{user}", json={"timezone": "Europe/Paris"}, headers=SERVICE
        )
        assert pushed.status_code == 200, pushed.text
        assert (pushed.json()["timezone"], pushed.json()["version"]) == ("Europe/Paris", 2)
        assert pushed.headers["etag"] == '"2"'

        summary = await daily(client, user)
        assert summary["timezone"] == "Europe/Paris"
        assert consumed_by_day(summary) == {"2026-03-10": 0, "2026-03-11": 600}
        async with app.state.db.read_session() as session:
            zone = await session.scalar(
                select(RollupZone.timezone).where(RollupZone.user_id == user)
            )
        assert zone == "Europe/Paris"  # the profile_changed hook rebuilt the rollups

        again = await client.put(
            f"/v1/owners/{user}", json={"timezone": "Europe/Paris"}, headers=ADMIN
        )
        assert (again.status_code, again.json()["version"]) == (200, 2)
        stale = await client.put(
            f"/v1/owners/{user}",
            json={"timezone": None},
            headers={**SERVICE, "If-Match": '"1"'},
        )
        assert stale.status_code == 412
        bad = await client.put(f"/v1/owners/{user}", json={"timezone": "Mars/Base"}, headers=ADMIN)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.timezone"
        newcomer = uuid.uuid4()
        made = await client.put(
            f"/v1/owners/{newcomer}", json={"timezone": "Asia/Tokyo"}, headers=SERVICE
        )
        assert (made.status_code, made.json()["version"]) == (201, 1)
        assert (await daily(client, newcomer))["timezone"] == "Asia/Tokyo"


async def test_erasing_an_owner_removes_the_users_rows(backend: str, tmp_path: Path) -> None:
    async with split_app(backend, tmp_path, ["nutrition"]) as (_, client):
        user, kept = uuid.uuid4(), uuid.uuid4()
        await write_nutrition(client, user)
        await write_nutrition(client, kept)
        gone = await client.delete(f"/v1/owners/{user}", headers=SERVICE)
        assert gone.status_code == 204
        assert (await client.get(nutrition(user, "body"), headers=bearer(user))).status_code == 404
        assert consumed_by_day(await daily(client, user)) == {"2026-03-10": 0, "2026-03-11": 0}
        assert (await client.get(f"/v1/owners/{user}", headers=SERVICE)).status_code == 404
        assert (await client.get(nutrition(kept, "body"), headers=bearer(kept))).status_code == 200
        assert (await client.delete(f"/v1/owners/{user}", headers=SERVICE)).status_code == 204


async def test_only_the_selected_domains_are_routed(backend: str, tmp_path: Path) -> None:
    async with split_app(backend, tmp_path, ["nutrition"]) as (app, client):
        paths = {route.path_format for route in app.routes if isinstance(route, APIRoute)}
        for domain in DOMAINS:
            own = {r.path_format for router in domain.routers for r in router.routes}  # type: ignore[attr-defined]
            assert (own <= paths) if domain.name == "nutrition" else not (own & paths), domain
        assert {"/v1/owners/{user_id}", "/v1/users/{user_id}/profiles"} <= paths
        user = uuid.uuid4()
        for path in (
            f"/v1/profiles/{user}",
            f"/v1/profiles/{user}/movement",
            f"/v1/profiles/{user}/contacts",
            f"/v1/profiles/{user}/watchlist",
            "/v1/me",
            "/v1/programs",
        ):
            answer = await client.get(path, headers=ADMIN)
            assert answer.status_code == 404, (path, answer.text)
    # Where profiles is served, identity owns the directory: no /v1/owners.
    everything = create_app(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path))
    assert not any(
        isinstance(r, APIRoute) and r.path_format.startswith("/v1/owners")
        for r in everything.routes
    )
    assert not owners.identity_elsewhere()
    await everything.state.verifier.aclose()
    await everything.state.db.dispose()


async def test_the_aggregate_answers_the_local_sections_only(backend: str, tmp_path: Path) -> None:
    async with split_app(backend, tmp_path, ["nutrition"]) as (_, client):
        user = uuid.uuid4()
        empty = await client.get(f"/v1/users/{user}/profiles", headers=bearer(user))
        assert empty.status_code == 200, empty.text  # no identity part: no anchor, no 404
        assert empty.json() == {
            "user_id": str(user),
            "nutrition": None,
            "missing": ["nutrition"],
            "errors": [],
        }
        await write_nutrition(client, user)
        full = (await client.get(f"/v1/users/{user}/profiles", headers=bearer(user))).json()
        assert set(full) == {"user_id", "nutrition", "missing", "errors"}
        assert (full["missing"], full["errors"]) == ([], [])
        assert full["nutrition"]["body"]["height_cm"] == 180
        assert full["nutrition"]["eating"]["diet"] == "vegan"
        stranger = await client.get(f"/v1/users/{user}/profiles", headers=bearer(uuid.uuid4()))
        assert stranger.status_code == 200
        assert (stranger.json()["nutrition"], stranger.json()["missing"]) == (None, [])


async def test_users_cannot_reach_the_owner_directory(backend: str, tmp_path: Path) -> None:
    """The authorization matrix of the routes a split process adds: every /v1/owners route
    and method refuses users (the owner too) and anonymous callers, and changes nothing."""
    async with split_app(backend, tmp_path, ["nutrition"]) as (app, client):
        user = uuid.uuid4()
        routes = [
            (route, method)
            for route in app.routes
            if isinstance(route, APIRoute) and route.path_format.startswith("/v1/owners/")
            for method in sorted(route.methods)
        ]
        assert {method for _, method in routes} == {"GET", "PUT", "DELETE"}
        for route, method in routes:
            rule = route_access(route)
            assert rule is not None and not rule.owner and "service" in rule.roles
            path = route.path_format.replace("{user_id}", str(user))
            body = {"timezone": "Europe/Paris"} if method == "PUT" else None
            for caller in (bearer(user), bearer(uuid.uuid4())):
                refused = await client.request(method, path, json=body, headers=caller)
                assert refused.status_code == 403, (method, refused.text)
            anonymous = await client.request(method, path, json=body)
            assert anonymous.status_code == 401
        assert (await client.get(f"/v1/owners/{user}", headers=ADMIN)).status_code == 404


async def test_movement_and_media_alone(backend: str, tmp_path: Path) -> None:
    async with split_app(backend, tmp_path, ["movement", "media"]) as (app, client):
        held = await tables(app)
        assert "profiles" not in held and "nutrition_body" not in held
        user, reviewer = uuid.uuid4(), uuid.uuid4()
        movement = await client.put(
            f"/v1/profiles/{user}/movement", json={"goals": ["strength"]}, headers=bearer(user)
        )
        assert movement.status_code == 201, movement.text
        programs = await client.get(f"/v1/profiles/{user}/programs", headers=bearer(user))
        assert programs.status_code == 200, programs.text
        added = await client.post(
            f"/v1/profiles/{user}/watchlist", json={"video_id": "v1"}, headers=bearer(user)
        )
        assert added.status_code == 201, added.text
        rated = await client.put(
            f"/v1/profiles/{reviewer}/ratings/v1",
            json={"stars": 4, "review": "Good"},
            headers=bearer(reviewer),
        )
        assert rated.status_code == 201, rated.text
        reviews = await client.get("/v1/videos/v1/reviews", headers=bearer(user))
        assert reviews.status_code == 200, reviews.text
        (item,) = reviews.json()["items"]
        assert (item["author_id"], item["author"]) == (str(reviewer), None)
        aggregate = (await client.get(f"/v1/users/{user}/profiles", headers=bearer(user))).json()
        assert aggregate["movement"]["goals"] == ["strength"]
        assert aggregate["media"]["watchlist_count"] == 1
        assert "identity" not in aggregate and "nutrition" not in aggregate


def test_a_selection_that_cannot_serve_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(
        ValidationError, match=r"unknown domain 'billing'.*profiles \(or identity\)"
    ):
        Settings(domains="nutrition,billing")
    assert Settings(domains="identity, nutrition").domains == ["profiles", "nutrition"]
    assert Settings(domains="all").domains == [
        "profiles",
        "social",
        "media",
        "nutrition",
        "movement",
    ]
    with pytest.raises(ValueError, match="social domain needs profiles"):
        create_app(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path, domains=["social"]))
    refused = subprocess.run(
        [str(BIN / "profilestore"), "serve", "--domains", "social,media", "--no-migrate"],
        env=service_env(data_dir=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert (
        "social domain needs profiles" in refused.stderr and "--domains profiles" in refused.stderr
    )
    unknown = subprocess.run(
        [str(BIN / "profilestore"), "serve", "--domains", "nutrition,bogus"],
        env=service_env(data_dir=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 2 and "unknown domain 'bogus'" in unknown.stderr


@pytest.mark.slow
def test_serve_movement_alone_on_its_own_postgres_database(tmp_path: Path) -> None:
    """``profilestore serve --domains movement`` on a fresh PostgreSQL database: it migrates
    the movement and platform tables only, and serves a training profile for a user whose
    identity lives elsewhere."""
    with postgres_database(migrate=False) as url:
        env = postgres_env(url, tmp_path / "var")
        with running_server(env, tmp_path, ["--domains", "movement"]) as (base, _):
            from sqlalchemy.ext.asyncio import create_async_engine

            async def held() -> set[str]:
                engine = create_async_engine(url)
                try:
                    async with engine.connect() as conn:
                        found: set[str] = await conn.run_sync(
                            lambda sync: set(inspect(sync).get_table_names())
                        )
                        return found
                finally:
                    await engine.dispose()

            movement_tables = {"movement_profiles", "movement_programs"}
            assert asyncio.run(held()) == PLATFORM_TABLES | movement_tables | {"alembic_version"}
            user = uuid.uuid4()
            me = {"Authorization": f"Bearer {token(user)}"}
            written = httpx.put(
                f"{base}/v1/profiles/{user}/movement",
                json={"goals": ["mobility"], "days_per_week": 2},
                headers=me,
            )
            assert written.status_code == 201, written.text
            read = httpx.get(f"{base}/v1/profiles/{user}/movement", headers=me)
            assert read.status_code == 200 and read.json()["days_per_week"] == 2
            assert httpx.get(f"{base}/v1/profiles/{user}", headers=me).status_code == 404
            assert httpx.get(f"{base}/v1/users/{user}/profiles", headers=me).json()["movement"]
        assert runner.revisions_at(url) == runner.heads(["movement"])
