"""Profiles through the HTTP API: create/replace, merge patch, ETags, visibility, look-ups."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from tests.support import ADMIN, SERVICE, bearer

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def create(client: httpx.AsyncClient, user: uuid.UUID, **fields: Any) -> httpx.Response:
    body = {"username": f"u{user.hex[:12]}", **fields}
    response = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert response.status_code == 201, response.text
    return response


class StatementCounter:
    """Counts SQL statements the app's engine sends (BEGIN/COMMIT on SQLite included).

    Statements run through SQLAlchemy are seen by its events; prepared reads that run on the
    asyncpg driver directly (``platform.reads``) are seen by asyncpg's query logger, installed
    on every connection checked out of the pool while counting."""

    def __init__(self, app: FastAPI) -> None:
        self.engine = app.state.db.engine.sync_engine
        self.statements: list[str] = []
        self._logged: list[Any] = []

    async def __aenter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._record)
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "checkout", self._checkout)
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
        event.remove(self.engine, "before_cursor_execute", self._record)
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "checkout", self._checkout)
        for driver in self._logged:
            driver.remove_query_logger(self._driver_query)

    def _checkout(self, _dbapi_connection: Any, pool_entry: Any, *_: Any) -> None:
        driver = pool_entry.driver_connection
        if hasattr(driver, "add_query_logger") and driver not in self._logged:
            driver.add_query_logger(self._driver_query)
            self._logged.append(driver)

    def _driver_query(self, record: Any) -> None:
        if not record.query.startswith(("BEGIN", "COMMIT", "ROLLBACK")):  # SQLAlchemy's own
            self.statements.append(record.query)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def _begin(self, conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.statements.append("BEGIN")


async def test_put_creates_then_replaces(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    first = await create(client, user, display_name="Ada", bio="hi", timezone="Europe/London")
    assert first.headers["etag"] == '"1"'
    body = first.json()
    assert body["version"] == 1 and body["preferences"] == {} and "status" not in body
    replaced = await client.put(
        f"/v1/profiles/{user}", json={"username": "ada_l"}, headers=bearer(user)
    )
    assert replaced.status_code == 200
    after = replaced.json()
    assert after["version"] == 2 and replaced.headers["etag"] == '"2"'
    assert after["display_name"] is None and after["bio"] is None and after["timezone"] is None
    assert after["created_at"] == body["created_at"]
    assert after["updated_at"] >= body["updated_at"]


async def test_unchanged_put_keeps_version(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    created = (await create(client, user, bio="same")).json()
    again = await client.put(
        f"/v1/profiles/{user}",
        json={"username": created["username"], "bio": "same"},
        headers=bearer(user),
    )
    assert again.status_code == 200 and again.json()["version"] == 1


async def test_if_match(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    await create(client, user)
    url, headers = f"/v1/profiles/{user}", bearer(user)
    stale = await client.patch(
        url, json={"bio": "x"}, headers={**headers, **MERGE_PATCH, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert (await client.get(url, headers=headers)).json()["bio"] is None
    fresh = await client.patch(
        url, json={"bio": "x"}, headers={**headers, **MERGE_PATCH, "If-Match": '"1"'}
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"2"'
    put_stale = await client.put(
        url, json={"username": "zzz"}, headers={**headers, "If-Match": '"1"'}
    )
    assert put_stale.status_code == 412
    delete_stale = await client.delete(url, headers={**headers, "If-Match": '"1"'})
    assert delete_stale.status_code == 412
    assert (await client.get(url, headers=headers)).status_code == 200
    delete_fresh = await client.delete(url, headers={**headers, "If-Match": '"2"'})
    assert delete_fresh.status_code == 204


async def test_if_match_on_missing_profile_and_create_only(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    url, headers = f"/v1/profiles/{user}", bearer(user)
    missing = await client.put(url, json={"username": "abc"}, headers={**headers, "If-Match": "*"})
    assert missing.status_code == 412
    create_only = {**headers, "If-None-Match": "*"}
    assert (await client.put(url, json={"username": "abc"}, headers=create_only)).status_code == 201
    assert (await client.put(url, json={"username": "abd"}, headers=create_only)).status_code == 412
    assert (await client.get(url, headers=headers)).json()["username"] == "abc"


async def test_if_none_match_gives_304(client: httpx.AsyncClient) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    await create(client, user)
    url = f"/v1/profiles/{user}"
    own = await client.get(url, headers={**bearer(user), "If-None-Match": '"1"'})
    assert own.status_code == 304 and own.headers["etag"] == '"1"' and own.content == b""
    changed = await client.get(url, headers={**bearer(user), "If-None-Match": '"0"'})
    assert changed.status_code == 200
    public = await client.get(url, headers=bearer(other))
    assert public.headers["etag"].startswith('"1-public-')
    tag = public.headers["etag"]
    cached = await client.get(url, headers={**bearer(other), "If-None-Match": tag})
    assert cached.status_code == 304


async def test_merge_patch_semantics(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    prefs = {"theme": "dark", "notify": {"email": True, "push": False}}
    await create(client, user, display_name="Ada", bio="bio", preferences=prefs)
    url, headers = f"/v1/profiles/{user}", {**bearer(user), **MERGE_PATCH}
    patch = {
        "display_name": None,
        "bio": "new",
        "preferences": {"notify": {"push": None, "sms": 1}},
    }
    patched = await client.patch(url, json=patch, headers=headers)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["display_name"] is None and body["bio"] == "new"
    assert body["preferences"] == {"theme": "dark", "notify": {"email": True, "sms": 1}}
    assert body["version"] == 2
    replaced = await client.patch(url, json={"preferences": None}, headers=headers)
    assert replaced.json()["preferences"] == {}


async def test_patch_accepts_plain_json_and_refuses_bad_patches(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    await create(client, user, bio="kept")
    url = f"/v1/profiles/{user}"
    ok = await client.patch(url, json={"locale": "de-DE"}, headers=bearer(user))
    assert ok.status_code == 200 and ok.json()["locale"] == "de-DE"
    for bad in (
        {"username": None},
        {"version": 9},
        {"user_id": str(uuid.uuid4())},
        {"timezone": "Mars/Olympus"},
        {"unknown": 1},
        {"status": "busy"},  # presence is not part of the profile
    ):
        response = await client.patch(url, json=bad, headers={**bearer(user), **MERGE_PATCH})
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"], bad
    not_object = await client.patch(url, json=[1, 2], headers={**bearer(user), **MERGE_PATCH})
    assert not_object.status_code == 422
    after = (await client.get(url, headers=bearer(user))).json()
    assert after["version"] == 2 and after["bio"] == "kept" and after["locale"] == "de-DE"


async def test_patch_missing_profile_is_404(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    response = await client.patch(f"/v1/profiles/{user}", json={"bio": "x"}, headers=bearer(user))
    assert response.status_code == 404


async def test_server_kept_fields_cannot_be_written(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    url = f"/v1/profiles/{user}"
    for field, value in (
        ("user_id", str(user)),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("updated_at", "2020-01-01T00:00:00Z"),
        ("version", 5),
    ):
        response = await client.put(
            url, json={"username": "abc", field: value}, headers=bearer(user)
        )
        assert response.status_code == 422, field
        assert field in response.json()["errors"][0]["message"]
    assert (await client.get(url, headers=bearer(user))).status_code == 404


async def test_delete_is_idempotent(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    await create(client, user)
    url = f"/v1/profiles/{user}"
    assert (await client.delete(url, headers=bearer(user))).status_code == 204
    assert (await client.get(url, headers=bearer(user))).status_code == 404
    assert (await client.delete(url, headers=bearer(user))).status_code == 204


async def test_visibility(client: httpx.AsyncClient) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    await create(client, owner, timezone="Europe/Berlin", locale="de-DE", preferences={"a": 1})
    url = f"/v1/profiles/{owner}"
    public = (await client.get(url, headers=bearer(stranger))).json()
    shown = {"user_id", "username", "display_name", "avatar_url", "bio", "private_account"}
    assert set(public) == shown | {"fields"}
    for caller in (bearer(owner), ADMIN, SERVICE):
        full = (await client.get(url, headers=caller)).json()
        assert full["timezone"] == "Europe/Berlin" and full["preferences"] == {"a": 1}
        assert {"locale", "created_at", "version"} <= set(full)


async def test_me(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    assert (await client.get("/v1/me", headers=bearer(user))).status_code == 404
    await create(client, user, locale="en-GB")
    me = await client.get("/v1/me", headers=bearer(user))
    assert me.status_code == 200 and me.json()["locale"] == "en-GB"
    assert (await client.get("/v1/me", headers=SERVICE)).status_code == 404


async def test_username_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    response = await client.put(
        f"/v1/profiles/{first}", json={"username": "Grace.H"}, headers=bearer(first)
    )
    assert response.json()["username"] == "grace.h"
    clash = await client.put(
        f"/v1/profiles/{second}", json={"username": "GRACE.h"}, headers=bearer(second)
    )
    assert clash.status_code == 409 and clash.json()["type"].endswith("username-taken")
    found = await client.get("/v1/profiles", params={"username": "GRACE.H"}, headers=bearer(second))
    assert [p["user_id"] for p in found.json()["items"]] == [str(first)]
    none = await client.get("/v1/profiles", params={"username": "nobody"}, headers=bearer(second))
    assert none.json() == {"items": []}


async def test_batch_read_of_100_is_one_query_then_none(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Cold: one query for the profiles, one for who blocks the reader and one for which of
    them have the reader as a contact (their audience); warm: none."""
    users = [uuid.uuid4() for _ in range(100)]
    for user in users[:60]:
        await create(client, user, timezone="Asia/Tokyo")
    reader = uuid.uuid4()
    ordered = list(reversed(users))
    async with StatementCounter(app) as counter:
        response = await client.get(
            "/v1/profiles", params={"ids": ",".join(map(str, ordered))}, headers=bearer(reader)
        )
    assert response.status_code == 200
    assert len(counter.statements) == 3, counter.statements
    assert "FROM profiles" in counter.statements[0]
    async with StatementCounter(app) as warm:
        again = await client.get(
            "/v1/profiles", params={"ids": ",".join(map(str, ordered))}, headers=bearer(reader)
        )
    assert warm.statements == [] and again.json() == response.json()
    items = response.json()["items"]
    assert [item["user_id"] for item in items] == [str(u) for u in ordered if u in users[:60]]
    assert all("timezone" not in item for item in items)
    service_view = await client.get("/v1/profiles", params={"ids": str(users[0])}, headers=SERVICE)
    assert service_view.json()["items"][0]["timezone"] == "Asia/Tokyo"


async def test_batch_read_limits(client: httpx.AsyncClient) -> None:
    caller = bearer(uuid.uuid4())
    too_many = ",".join(str(uuid.uuid4()) for _ in range(101))
    for params in (
        {"ids": too_many},
        {"ids": "not-a-uuid"},
        {"ids": ","},
        {},
        {"ids": str(uuid.uuid4()), "username": "abc"},
    ):
        response = await client.get("/v1/profiles", params=params, headers=caller)
        assert response.status_code == 422, params
        assert response.json()["errors"], params


async def test_single_read_is_one_round_trip(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = uuid.uuid4()
    await create(client, user)
    async with StatementCounter(app) as counter:
        response = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
    assert response.status_code == 200
    assert counter.statements and len(counter.statements) == 1, counter.statements


async def test_concurrent_single_reads_share_one_query(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Reads that arrive together are answered from one query (``platform.batching``), each
    with its own profile, and an absent one still 404s."""
    users = [uuid.uuid4() for _ in range(8)]
    for user in users:
        await create(client, user, bio=f"bio of {user}")
    reader = bearer(uuid.uuid4())
    asked = [*users, uuid.uuid4()]
    async with StatementCounter(app) as counter:
        answers = await asyncio.gather(
            *(client.get(f"/v1/profiles/{user}", headers=reader) for user in asked)
        )
    assert [answer.status_code for answer in answers] == [200] * 8 + [404]
    assert [answer.json()["bio"] for answer in answers[:8]] == [f"bio of {u}" for u in users]
    profile_queries = [s for s in counter.statements if "FROM profiles" in s]
    assert len(profile_queries) == 1, profile_queries


async def test_field_validation(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    url = f"/v1/profiles/{user}"
    bad_fields: list[dict[str, Any]] = [
        {"username": "ab"},
        {"username": "a" * 33},
        {"username": "with space"},
        {"username": "emoji😀"},
        {"username": "abc", "display_name": "x" * 65},
        {"username": "abc", "bio": "x" * 501},
        {"username": "abc", "avatar_url": "ftp://example.com/a.png"},
        {"username": "abc", "avatar_url": "not a url"},
        {"username": "abc", "status": "online"},
        {"username": "abc", "locale": "english"},
        {"username": "abc", "timezone": "Europe/Atlantis"},
        {"username": "abc", "preferences": [1, 2]},
        {"username": "abc", "preferences": {"x" * 129: 1}},
        {
            "username": "abc",
            "preferences": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}},
        },
        {"username": "abc", "preferences": {"blob": "x" * 17_000}},
        {"username": "abc", "last_seen": "2026-01-01T00:00:00Z"},
        {"username": "abc", "preferences": {"big": 2**64}},
    ]
    for body in bad_fields:
        response = await client.put(url, json=body, headers=bearer(user))
        assert response.status_code == 422, body
        assert response.json()["errors"], body
    assert (await client.get(url, headers=bearer(user))).status_code == 404
    good = {
        "username": "ok_name.1",
        "display_name": "x" * 64,
        "bio": "x" * 500,
        "avatar_url": "https://cdn.example.com/a.png",
        "locale": "zh-Hant-TW",
        "timezone": "America/Argentina/Buenos_Aires",
        "preferences": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}},
    }
    response = await client.put(url, json=good, headers=bearer(user))
    assert response.status_code == 201, response.text


async def test_cached_reads_are_measured(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Hits and misses per cache, and the cache result on the read latency histogram."""
    user = uuid.uuid4()
    await create(client, user)
    before = (await client.get("/metrics")).text
    for _ in range(2):
        assert (await client.get(f"/v1/profiles/{user}", headers=SERVICE)).status_code == 200
    after = (await client.get("/metrics")).text

    def value(text: str, series: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(series + " ")]
        return float(lines[0].split()[-1]) if lines else 0.0

    route = 'method="GET",route="/v1/profiles/{user_id}",status="200"'
    for result in ("hit", "miss"):
        series = f'profilestore_http_request_duration_seconds_count{{cache="{result}",{route}}}'
        assert value(after, series) - value(before, series) >= 1, result
    near_hit = 'profilestore_cache_requests_total{cache="profiles",result="near_hit"}'
    assert value(after, near_hit) - value(before, near_hit) >= 1
