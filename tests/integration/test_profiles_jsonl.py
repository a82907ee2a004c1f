"""``profilestore export profiles`` / ``import profiles`` through the command line (both
databases): a round trip from one backend into the other gives the same lines back (but for
what the target keeps itself: timestamps, versions, address ids), a second import changes and
emits nothing, every invalid line is reported by number while the others go in, a dry run
writes nothing, and an import drops what a server's shared cache holds of the profiles."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from profilestore import cli, profiles_jsonl
from profilestore.domains.profiles.models import Profile
from profilestore.migrations import runner
from profilestore.platform.db import Database
from profilestore.settings import Settings
from tests.conftest import SHARED_REDIS_URL
from tests.events_support import outbox_types
from tests.support import bearer, client_for, postgres_database

KEPT_BY_TARGET = ("created_at", "updated_at", "version")
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def run_cli(*args: str, url: str, **env: str) -> Result:
    """The command in a thread (it runs its own event loop), on the database at ``url``."""
    environment = {"PROFILESTORE_DATABASE_URL": url, "PROFILESTORE_LOG_LEVEL": "WARNING", **env}
    return await asyncio.to_thread(CliRunner().invoke, cli.app, list(args), env=environment)


@pytest.fixture
def other_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of the other backend than the test's own."""
    if database_url.startswith("postgresql"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
        runner.upgrade(url)
        yield url
        return
    with postgres_database() as url:
        yield url


async def fill(client: httpx.AsyncClient) -> list[uuid.UUID]:
    """Four profiles through the API: private fields, every shape of addresses; the first
    is updated last (so it comes last)."""
    users = [uuid.uuid4() for _ in range(4)]
    full = {
        "username": "ada.l",
        "display_name": "Ada Lövelace",
        "bio": "Analyst\nof engines",
        "avatar_url": "https://img.example/ada",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "preferences": {"theme": "dark", "ñ": [1, 2.5, True, None, {"deep": "✓"}]},
    }
    bodies = [full, {"username": "bob"}, {"username": "chloe", "display_name": "Chloé"}]
    for user, body in zip(users, [*bodies, {"username": "dan"}], strict=True):
        answer = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
        assert answer.status_code == 201, answer.text
    await add_address(client, users[0], "shipping", "1 First St", default=False)
    await add_address(client, users[0], "shipping", "2 Second St", default=True)
    await add_address(client, users[0], "billing", "3 Third St", default=False)
    only = await add_address(client, users[1], "billing", "4 Fourth St", default=True)
    undefault = {"kind": "billing", "lines": ["4 Fourth St"], "city": "Köln", "country": "de"}
    answer = await client.put(
        f"/v1/profiles/{users[1]}/addresses/{only}", json=undefault, headers=bearer(users[1])
    )
    assert answer.status_code == 200 and answer.json()["is_default"] is False
    patch = {**bearer(users[0]), **MERGE_PATCH}
    answer = await client.patch(f"/v1/profiles/{users[0]}", json={"bio": "later"}, headers=patch)
    assert answer.status_code == 200
    return users


async def add_address(
    client: httpx.AsyncClient, user: uuid.UUID, kind: str, line: str, *, default: bool
) -> str:
    body = {"kind": kind, "lines": [line], "city": "Köln", "country": "de", "is_default": default}
    answer = await client.post(f"/v1/profiles/{user}/addresses", json=body, headers=bearer(user))
    assert answer.status_code == 201, answer.text
    address_id: str = answer.json()["id"]
    return address_id


def comparable(text: str) -> list[dict[str, Any]]:
    """The records of an export without what a target database keeps itself."""
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        for name in KEPT_BY_TARGET:
            del record[name]
        for address in record["addresses"]:
            for name in ("id", *KEPT_BY_TARGET):
                del address[name]
    return records


async def test_a_round_trip_into_the_other_backend_gives_the_same_lines(
    client: httpx.AsyncClient, app: FastAPI, other_database: str, tmp_path: Path
) -> None:
    users = await fill(client)
    source = app.state.settings.database_url
    exported = tmp_path / "profiles.jsonl"
    command = await run_cli("export", "profiles", "--out", str(exported), url=source)
    assert command.exit_code == 0, command.output
    assert command.stderr == "exported 4 profiles\n"
    first = exported.read_text()
    records = comparable(first)
    assert [record["user_id"] for record in records] == [str(u) for u in (*users[1:], users[0])]
    assert records[-1]["preferences"]["ñ"][-1] == {"deep": "✓"}
    assert [a["is_default"] for a in records[-1]["addresses"]] == [False, True, True]
    assert not (tmp_path / "profiles.jsonl.partial").exists()

    imported = await run_cli("import", "profiles", str(exported), url=other_database)
    assert imported.exit_code == 0, imported.output
    assert "imported: 4 created, 0 updated, 0 unchanged, 0 refused" in imported.stderr
    again = await run_cli("export", "profiles", "--out", "-", url=other_database)
    assert comparable(again.stdout) == comparable(first)
    events = Counter(await types_in(other_database))
    assert events["ProfileCreated"] == 4 and events["AddressAdded"] == 4

    reimported = await run_cli("import", "profiles", str(exported), url=other_database)
    assert "imported: 0 created, 0 updated, 4 unchanged, 0 refused" in reimported.stderr
    assert Counter(await types_in(other_database)) == events
    unchanged = await run_cli("export", "profiles", url=other_database)
    assert unchanged.stdout == again.stdout


async def types_in(url: str) -> list[str]:
    database = Database(Settings(database_url=url))
    try:
        return await outbox_types(database)
    finally:
        await database.dispose()


async def test_updated_since_exports_the_later_profiles(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    users = await fill(client)
    url = app.state.settings.database_url
    whole = (await run_cli("export", "profiles", url=url)).stdout.splitlines()
    since = json.loads(whole[-2])["updated_at"]
    later = await run_cli("export", "profiles", "--updated-since", since, url=url)
    assert later.exit_code == 0, later.output
    assert [json.loads(line)["user_id"] for line in later.stdout.splitlines()] == [
        str(users[3]),
        str(users[0]),
    ]
    assert later.stderr == "exported 2 profiles\n"
    for bad in ("yesterday", "2026-01-01T00:00:00", "1700000000"):
        refused = await run_cli("export", "profiles", "--updated-since", bad, url=url)
        assert refused.exit_code == 2 and "--updated-since" in refused.stderr, bad


def record(user: uuid.UUID | str, username: str, **fields: Any) -> str:
    return json.dumps({"user_id": str(user), "username": username, **fields})


SHIPPING = {"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"}
ALPHA, BETA, GAMMA, TAKEN = (uuid.uuid4() for _ in range(4))
MIXED_LINES = [
    record(ALPHA, "alpha"),  # 1: created
    "{not json",  # 2
    record(TAKEN, "Alpha"),  # 3: the username of line 1, in the same batch
    "[1, 2]",  # 4
    json.dumps({"username": "x"}),  # 5
    record(uuid.uuid4(), "lastseen", last_seen="2026-01-01T00:00:00Z"),  # 6
    record(
        uuid.uuid4(),
        "addr",
        addresses=[
            {**SHIPPING, "is_default": True},
            {**SHIPPING, "is_default": True},
            {**SHIPPING, "country": "XX"},
        ],
    ),  # 7
    "   ",  # 8: blank, skipped
    record(BETA, "beta", addresses=[{**SHIPPING, "is_default": True}]),  # 9: created
    record(uuid.uuid4(), "long", bio="b" * 400, preferences={"pad": "p" * 3000}),  # 10
    record(uuid.uuid4(), "admin"),  # 11
    record(GAMMA, "gamma", created_at="2000-01-01T00:00:00Z", version=7),  # 12: created
]
REFUSALS = [
    "line 2: not valid JSON (one object per line)",
    "line 3: That username is already taken.",
    "line 4: not a JSON object",
    "line 5: user_id: required",
    "line 5: username: String should have at least 3 characters",
    "line 6: last_seen: Extra inputs are not permitted",
    "line 7: addresses.2.country: Value error, not an ISO 3166-1 alpha-2 country code (e.g. DE)",
    "line 7: addresses: at most one default address per kind",
    "line 10: longer than 2048 bytes",
    "line 11: username: this username is reserved",
]


@pytest.fixture
def mixed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file of valid and invalid lines, read in batches of four lines of at most 2 KiB."""
    monkeypatch.setattr(profiles_jsonl, "BATCH_LINES", 4)
    monkeypatch.setattr(profiles_jsonl, "MAX_LINE_BYTES", 2048)
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(MIXED_LINES) + "\n")
    return path


async def stored_users(app: FastAPI) -> set[uuid.UUID]:
    async with app.state.db.read_session() as session:
        return set((await session.execute(select(Profile.user_id))).scalars())


async def test_invalid_lines_are_reported_and_the_others_imported(
    app: FastAPI, mixed_file: Path
) -> None:
    url = app.state.settings.database_url
    command = await run_cli("import", "profiles", str(mixed_file), url=url)
    assert command.exit_code == 1, command.output
    *refusals, summary = command.stderr.splitlines()
    assert refusals == REFUSALS
    assert summary == "imported: 3 created, 0 updated, 0 unchanged, 8 refused"
    assert await stored_users(app) == {ALPHA, BETA, GAMMA}
    assert Counter(await outbox_types(app.state.db)) == {"ProfileCreated": 3, "AddressAdded": 1}


async def test_a_dry_run_reports_the_same_and_writes_nothing(
    app: FastAPI, mixed_file: Path
) -> None:
    url = app.state.settings.database_url
    command = await run_cli("import", "profiles", str(mixed_file), "--dry-run", url=url)
    assert command.exit_code == 1, command.output
    *refusals, summary = command.stderr.splitlines()
    assert refusals == REFUSALS
    assert summary == "would import: 3 created, 0 updated, 0 unchanged, 8 refused"
    assert await stored_users(app) == set()
    assert await outbox_types(app.state.db) == []


async def test_an_import_changes_what_differs_and_no_more(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    users = await fill(client)
    url = app.state.settings.database_url
    lines = (await run_cli("export", "profiles", url=url)).stdout.splitlines()
    records = {uuid.UUID(r["user_id"]): r for r in map(json.loads, lines)}
    before = await outbox_types(app.state.db)
    records[users[1]]["display_name"] = "Bob B."
    del records[users[1]]["addresses"]  # addresses not named: left as they are
    shipping = records[users[0]]["addresses"]
    shipping[0]["is_default"], shipping[1]["is_default"] = True, False
    records[users[2]]["addresses"] = [{**SHIPPING, "is_default": True, "id": str(uuid.uuid4())}]
    path = tmp_path / "changed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records.values()))

    command = await run_cli("import", "profiles", str(path), url=url)
    assert command.exit_code == 0, command.output
    assert "imported: 0 created, 3 updated, 1 unchanged, 0 refused" in command.stderr
    emitted = Counter((await outbox_types(app.state.db))[len(before) :])
    assert emitted == {"ProfileUpdated": 1, "AddressUpdated": 2, "AddressAdded": 1}
    after = {uuid.UUID(r["user_id"]): r for r in map(json.loads, await export_lines(url))}
    assert after[users[1]]["display_name"] == "Bob B." and len(after[users[1]]["addresses"]) == 1
    assert [a["is_default"] for a in after[users[0]]["addresses"]] == [True, False, True]
    assert [a["lines"] for a in after[users[2]]["addresses"]] == [["1 Main St"]]


async def export_lines(url: str) -> list[str]:
    return (await run_cli("export", "profiles", url=url)).stdout.splitlines()


async def test_an_import_drops_the_profiles_a_server_has_cached(
    settings: Settings, redis_prefix: str, tmp_path: Path
) -> None:
    shared = settings.model_copy(
        update={"redis_url": SHARED_REDIS_URL, "cache_prefix": redis_prefix}
    )
    user = uuid.uuid4()
    async with client_for(shared) as client:
        put = await client.put(
            f"/v1/profiles/{user}", json={"username": "cached"}, headers=bearer(user)
        )
        assert put.status_code == 201
        read = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
        assert read.json()["display_name"] is None
        path = tmp_path / "one.jsonl"
        path.write_text(record(user, "cached", display_name="Fresh") + "\n")
        env = {
            "PROFILESTORE_REDIS_URL": SHARED_REDIS_URL,
            "PROFILESTORE_CACHE_PREFIX": redis_prefix,
        }
        command = await run_cli("import", "profiles", str(path), url=settings.database_url, **env)
        assert command.exit_code == 0, command.output
        fresh = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
        assert fresh.json()["display_name"] == "Fresh"
