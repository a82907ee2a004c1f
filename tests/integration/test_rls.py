"""Row-level security on PostgreSQL, the second layer (``platform.rls``,
``migrations/policies.py``): with the service running as ``profilestore_app`` and the access
rules' ownership check switched off, user B asking for user A's private rows in every domain
gets nothing and changes none of them, while A still sees everything; a pooled connection never
carries a previous request's identity; prepared reads keep their driver path; the relay's role
reaches the outbox and no user table; roles are created safely by concurrent migrations; every
table a migration creates is declared."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, select, text

from profilestore.app import create_app
from profilestore.domains.nutrition.models import Body
from profilestore.migrations import row_security
from profilestore.migrations.policies import APP_ROLE, POLICIES, RELAY_ROLE
from profilestore.platform import access, rls
from profilestore.platform.auth import Principal
from profilestore.platform.db import Database
from profilestore.platform.events.relay import FeedOnlyPublisher, Relay
from profilestore.platform.reads import PreparedRead
from profilestore.settings import Settings
from tests.api.test_hub import fill_every_domain
from tests.api.test_social import block_url, make_user
from tests.support import PG_HOST, PG_PORT, PG_USER, TEST_SECRET, bearer, postgres_database

TODAY = dt.datetime.now(dt.UTC).date()
DAYS = f"from={TODAY - dt.timedelta(days=1)}&to={TODAY + dt.timedelta(days=1)}"
SUMMARY = f"calories/summary?granularity=day&{DAYS}"
PRIVATE_READS = (
    "body",
    "body/weights",
    "eating",
    "goals",
    "calories",
    SUMMARY,
    "contacts",
    "blocks",
    "addresses",
    "watchlist",
    "history",
    "continue-watching",
    "ratings",
    "movement",
    "audit",
)
BODY_READ = PreparedRead(select(Body.__table__).where(Body.user_id == bindparam("user_id")))


@pytest.fixture(scope="module")
def rls_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def rls_settings(url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "database_role": APP_ROLE,
        "jwt_secret": TEST_SECRET,
        "data_dir": data_dir,
        "rate_limit_enabled": False,
        # A cache entry the owner's own read filled is outside the database: with the
        # ownership check off it would answer anyone. This layer guards the database.
        "cache_enabled": False,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def app(rls_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The service as the application role, on one pooled connection (every request reuses
    the connection the previous one had)."""
    settings = rls_settings(rls_url, tmp_path, database_pool_size=1, database_max_overflow=0)
    application = create_app(settings)
    yield application
    await application.state.verifier.aclose()
    await application.state.db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def ownership_check_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only switch: the rules that admit "the user themself" admit any signed-in
    caller, as a bug in the application's own check would."""
    monkeypatch.setattr(access, "ownership_check", False)


async def a_user_with_everything(client: httpx.AsyncClient) -> uuid.UUID:
    user = await make_user(client)
    await fill_every_domain(client, user)
    me = bearer(user)
    address = {"kind": "shipping", "lines": ["1 Main St"], "city": "Lyon", "country": "FR"}
    writes = [
        client.put(block_url(user, uuid.uuid4()), json={}, headers=me),
        client.post(
            f"/v1/profiles/{user}/body/weights",
            json={"weight_kg": 71, "day": TODAY.isoformat()},
            headers=me,
        ),
        client.post(f"/v1/profiles/{user}/addresses", json=address, headers=me),
        client.put(f"/v1/profiles/{user}/ratings/v1", json={"stars": 4}, headers=me),
    ]
    for write in writes:
        answer = await write
        assert answer.status_code in (200, 201), answer.text
    return user


async def rows_shown(
    client: httpx.AsyncClient, user: uuid.UUID, path: str, headers: dict[str, str]
) -> bool:
    """Whether the answer shows any of the user's rows (404 and empty lists show none)."""
    answer = await client.get(f"/v1/profiles/{user}/{path}", headers=headers)
    if answer.status_code == 404:
        return False
    assert answer.status_code == 200, (path, answer.text)
    body = answer.json()
    if "items" in body:
        return bool(body["items"])
    if "buckets" in body:
        return any(bucket["count"] for bucket in body["buckets"])
    return True


async def everything_of(client: httpx.AsyncClient, user: uuid.UUID) -> dict[str, Any]:
    """What the user sees of their own data (to compare before and after)."""
    seen = {}
    for path in ("", *PRIVATE_READS[:-1]):
        answer = await client.get(f"/v1/profiles/{user}/{path}".rstrip("/"), headers=bearer(user))
        assert answer.status_code == 200, (path, answer.text)
        seen[path] = answer.json()
    for bucket in seen[SUMMARY]["buckets"]:
        for grows in ("bmr_burn", "balance"):  # today's part that has passed: the clock's
            bucket.pop(grows, None)
    return seen


@pytest.mark.usefixtures("ownership_check_off")
async def test_another_users_private_rows_are_not_shown(client: httpx.AsyncClient) -> None:
    owner = await a_user_with_everything(client)
    stranger = await make_user(client)
    for path in PRIVATE_READS:
        assert await rows_shown(client, owner, path, bearer(owner)), path
        assert not await rows_shown(client, owner, path, bearer(stranger)), path
    export = await client.get(f"/v1/profiles/{owner}/export", headers=bearer(stranger))
    assert export.status_code == 200
    shown = {
        table: rows
        for section in export.json()["sections"].values()
        for table, rows in section.items()
        if rows
    }
    # The profile row is public (which of its fields another user sees is the application's
    # rule, docs/operations.md), and so are the search words made of it: they are all the
    # stranger's export holds (a username of random letters and digits may give no words).
    assert "profiles" in shown and set(shown) <= {"profile_search_words", "profiles"}


@pytest.mark.usefixtures("ownership_check_off")
async def test_another_users_rows_cannot_be_changed(client: httpx.AsyncClient) -> None:
    owner = await a_user_with_everything(client)
    stranger = bearer(await make_user(client))
    before = await everything_of(client, owner)
    mine = f"/v1/profiles/{owner}"
    contact = before["contacts"]["items"][0]["contact_user_id"]
    address = before["addresses"]["items"][0]["id"]
    goal = {"goal_type": "loss", "target_weight_kg": 60}
    attempts = [
        client.patch(mine, json={"display_name": "taken over"}, headers=stranger),
        client.patch(f"{mine}/body", json={"weight_kg": 99}, headers=stranger),
        client.put(f"{mine}/body", json={"height_cm": 150}, headers=stranger),
        client.put(f"{mine}/eating", json={"diet": "omnivore"}, headers=stranger),
        client.post(f"{mine}/goals", json=goal, headers=stranger),
        client.delete(f"{mine}/contacts/{contact}", headers=stranger),
        client.put(f"{mine}/addresses/{address}", json={"city": "Nice"}, headers=stranger),
        client.delete(f"{mine}/watchlist/v1", headers=stranger),
        client.delete(f"{mine}/history", headers=stranger),
        client.put(f"{mine}/movement", json={"goals": ["mobility"]}, headers=stranger),
        client.delete(mine, headers=stranger),
        client.post(f"{mine}/erase", headers=stranger),
    ]
    statuses = [(await attempt).status_code for attempt in attempts]
    assert await everything_of(client, owner) == before, statuses


async def test_a_user_erasing_themself_reaches_the_rows_that_name_them(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await a_user_with_everything(client)
    neighbour = await make_user(client)
    keyed = {**bearer(neighbour), "Idempotency-Key": "add-owner"}
    added = await client.put(f"/v1/profiles/{neighbour}/contacts/{owner}", json={}, headers=keyed)
    assert added.status_code == 201
    erased = await client.post(f"/v1/profiles/{owner}/erase", headers=bearer(owner))
    assert erased.status_code == 200, erased.text
    async with app.state.db.engine.connect() as connection:  # the owner role: every row
        held = await connection.execute(
            text(
                "SELECT (SELECT count(*) FROM contacts WHERE contact_user_id = :u)"
                " + (SELECT count(*) FROM idempotency_keys WHERE caller = :n)"
                " + (SELECT count(*) FROM nutrition_calories WHERE user_id = :u)"
            ),
            {"u": owner, "n": str(neighbour)},
        )
        assert held.scalar_one() == 0


async def test_the_owner_still_reaches_everything(client: httpx.AsyncClient) -> None:
    owner = await a_user_with_everything(client)
    for path in PRIVATE_READS:
        assert await rows_shown(client, owner, path, bearer(owner)), path
    stranger = bearer(await make_user(client))
    refused = await client.get(f"/v1/profiles/{owner}/body", headers=stranger)
    assert refused.status_code == 404  # the switch on, the application refuses first


async def _on_pooled_connection(db: Database, sql: str, *args: Any) -> Any:
    """``sql``'s first row on the pool's one connection, outside any transaction."""
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        return await driver.fetchrow(sql, *args)


IDENTITY_LEFT = (
    "SELECT current_setting('profilestore.user_id', true),"
    " current_setting('profilestore.role', true), current_user::text"
)


async def test_a_pooled_connection_keeps_no_identity(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await a_user_with_everything(client)  # writes: ORM transactions
    assert list(await _on_pooled_connection(app.state.db, IDENTITY_LEFT)) == ["", "", APP_ROLE]
    profile = await client.get(f"/v1/profiles/{owner}", headers=bearer(owner))
    assert profile.status_code == 200  # the prepared (driver) read
    assert await rows_shown(client, owner, "body", bearer(owner))  # an ORM read
    assert list(await _on_pooled_connection(app.state.db, IDENTITY_LEFT)) == ["", "", APP_ROLE]


async def _prepared(db: Database, read: PreparedRead) -> int:
    """How many server-side prepared statements of ``read`` the pool's connection holds."""
    query = read._driver_query(db)
    assert query is not None  # the driver path
    sql = "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1"
    count: int = (await _on_pooled_connection(db, sql, query.sql))[0]
    return count


async def _body(db: Database, owner: uuid.UUID) -> dict[str, Any] | None:
    return await BODY_READ.one(db, user_id=owner)


async def test_prepared_reads_run_prepared_under_each_callers_identity(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await a_user_with_everything(client)
    db: Database = app.state.db
    stranger = uuid.uuid4()
    assert await _body(db, owner) is not None  # outside a request: system (a job)
    prepared = await _prepared(db, BODY_READ)
    for _ in range(3):
        with rls.acting_as(rls.identity_of(Principal(str(owner), owner))):
            assert (await _body(db, owner) or {}).get("height_cm") == 170
        with rls.acting_as(rls.identity_of(Principal(str(stranger), stranger))):
            assert await _body(db, owner) is None
        with rls.acting_as(rls.ANONYMOUS):
            assert await _body(db, owner) is None
    # Prepared once on the connection, then only executed: the identity is per transaction.
    assert prepared >= 1 and await _prepared(db, BODY_READ) == prepared


async def test_the_relay_role_publishes_and_reads_no_user_table(
    client: httpx.AsyncClient, rls_url: str, tmp_path: Path
) -> None:
    owner = await make_user(client)
    relay_db = Database(rls_settings(rls_url, tmp_path, database_role=RELAY_ROLE))
    try:
        assert await Relay(relay_db, FeedOnlyPublisher()).drain() >= 1
        async with relay_db.read_session() as session:
            with pytest.raises(Exception, match="permission denied"):
                await session.execute(text(f"SELECT * FROM profiles WHERE user_id = '{owner}'"))
    finally:
        await relay_db.dispose()


async def test_roles_are_created_once_under_concurrent_migrations() -> None:
    role = f"ps_test_role_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        connection = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres"
        )
        try:
            async with connection.transaction():
                await connection.execute(row_security.role_statement(role))
                await asyncio.sleep(0.2)  # hold the new role uncommitted: the others wait
        finally:
            await connection.close()

    try:
        await asyncio.gather(*(create() for _ in range(4)))
        found = await _admin_fetch("SELECT count(*) FROM pg_roles WHERE rolname = $1", role)
        assert found == 1
    finally:
        await _admin_fetch(f"DROP ROLE IF EXISTS {role}")


async def _admin_fetch(sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres"
    )
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def test_every_migrated_table_is_declared_and_secured(rls_url: str) -> None:
    name = rls_url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    try:
        rows = await connection.fetch(
            "SELECT tablename, rowsecurity FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename <> 'alembic_version'"
        )
        granted = await connection.fetchval(
            "SELECT count(DISTINCT table_name) FROM information_schema.role_table_grants"
            " WHERE grantee = $1",
            APP_ROLE,
        )
    finally:
        await connection.close()
    assert {row["tablename"] for row in rows} == set(POLICIES)
    assert all(row["rowsecurity"] for row in rows)
    assert granted == len(POLICIES)


async def test_follow_requests_work_as_the_application_role(client: httpx.AsyncClient) -> None:
    """The requester writes the asked user's request row; the owner accepts it (writing the
    requester's follow), declines, removes followers, and turns public (accepting all)."""
    owner, fan, other = [await make_user(client) for _ in range(3)]
    switch = {"content-type": "application/merge-patch+json", **bearer(owner)}
    privacy = f"/v1/profiles/{owner}/privacy"
    assert (await client.patch(privacy, json={"private_account": True}, headers=switch)).is_success
    for requester in (fan, other):
        url = f"/v1/profiles/{requester}/following/{owner}"
        assert (await client.put(url, headers=bearer(requester))).status_code == 202
    base = f"/v1/profiles/{owner}"
    listed = await client.get(f"{base}/follow-requests", headers=bearer(owner))
    assert len(listed.json()["items"]) == 2
    accepted = await client.put(f"{base}/followers/{fan}", headers=bearer(owner))
    assert accepted.status_code == 201, accepted.text
    removed = await client.delete(f"{base}/followers/{fan}", headers=bearer(owner))
    assert removed.status_code == 204
    assert (
        await client.put(f"/v1/profiles/{fan}/following/{owner}", headers=bearer(fan))
    ).status_code == 202
    declined = await client.delete(f"{base}/follow-requests/{fan}", headers=bearer(owner))
    assert declined.status_code == 204
    assert (await client.patch(privacy, json={"private_account": False}, headers=switch)).is_success
    followers = await client.get(f"{base}/followers", headers=bearer(owner))
    assert [item["user_id"] for item in followers.json()["items"]] == [str(other)]
