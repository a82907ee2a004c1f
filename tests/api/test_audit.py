"""The audit log (both databases): every committed change to a user's data leaves one record
per transaction and user, naming the caller (token subject and roles, request id), with old
and new values of plain fields and only the names of sensitive ones; every write route of
every domain is audited (a route added later without it fails here); nothing is recorded for
what does not commit; GET .../audit pages newest first; retention and erasure."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from profilestore.domains.profiles.models import Profile
from profilestore.domains.registry import DOMAINS
from profilestore.migrations.runner import target_metadata
from profilestore.platform import audit
from profilestore.platform.audit import Actor, AuditRecord, erase_audit, new_record
from profilestore.platform.audit_changes import Captured, Policy, summarize
from profilestore.platform.db import Database, utcnow
from profilestore.platform.events.relay import FeedOnlyPublisher, Relay, RelayConfig, relay_config
from profilestore.platform.uow import background_work
from profilestore.settings import Settings
from tests.api.test_authorization_matrix import api_routes, request_body
from tests.api.test_social import make_user
from tests.support import ADMIN, SERVICE, bearer

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def record_ids(db: Database, user: uuid.UUID) -> list[int]:
    return [record.id for record in await records(db, user)]


async def records(
    db: Database, user: uuid.UUID, request_id: str | None = None
) -> list[AuditRecord]:
    """The user's records (of one request, if given), oldest first."""
    async with db.read_session() as session:
        statement = select(AuditRecord).where(AuditRecord.user_id == user)
        if request_id is not None:
            statement = statement.where(AuditRecord.request_id == request_id)
        return list((await session.execute(statement.order_by(AuditRecord.id))).scalars())


def change_of(record: AuditRecord, resource: str) -> dict[str, Any]:
    (found,) = [c for c in record.changes if c["resource"] == resource]
    return found


async def test_a_change_names_its_caller_and_its_values_but_not_sensitive_ones(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    body = {"height_cm": 170, "weight_kg": 70, "activity_level": "sedentary"}
    put = await client.put(f"/v1/profiles/{user}/body", json=body, headers=bearer(user))
    assert put.status_code == 201, put.text
    headers = {**ADMIN, **MERGE_PATCH, "X-Request-ID": "audit-req-1"}
    patch = {"weight_kg": 72.5, "activity_level": "very_active"}
    answer = await client.patch(f"/v1/profiles/{user}/body", json=patch, headers=headers)
    assert answer.status_code == 200, answer.text

    record = (await records(app.state.db, user))[-1]
    assert (record.actor, record.actor_roles, record.request_id) == (
        "admin-tool",
        ["admin"],
        "audit-req-1",
    )
    assert record.action == "PATCH /v1/profiles/{user_id}/body"
    assert record.target == f"/v1/profiles/{user}/body"
    assert "profilestore.nutrition.BodyMetricsChanged" in record.events
    body_change = change_of(record, "nutrition_body")
    assert body_change["op"] == "updated" and body_change["key"] == {}
    assert body_change["fields"] == {
        "activity_level": {"old": "sedentary", "new": "very_active"},
        "weight_kg": {"changed": True},
    }
    assert "72.5" not in str(record.changes) and "70" not in str(body_change)
    assert change_of(record, "nutrition_weights")["fields"]["weight_kg"] == {"changed": True}

    renamed = await client.patch(
        f"/v1/profiles/{user}", json={"bio": "hello"}, headers={**bearer(user), **MERGE_PATCH}
    )
    assert renamed.status_code == 200
    latest = (await records(app.state.db, user))[-1]
    assert latest.actor == str(user) and latest.actor_roles == []
    assert change_of(latest, "profiles")["fields"] == {"bio": {"old": None, "new": "hello"}}


async def test_a_new_row_lists_its_values_and_a_removed_one_its_old_values(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    address = {"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"}
    added = await client.post(f"/v1/profiles/{user}/addresses", json=address, headers=bearer(user))
    address_id = added.json()["id"]
    url = f"/v1/profiles/{user}/addresses/{address_id}"
    assert (await client.delete(url, headers=bearer(user))).status_code == 204
    created, deleted = (await records(app.state.db, user))[-2:]
    made = change_of(created, "addresses")
    assert (made["op"], made["key"]) == ("created", {"id": address_id})
    assert made["fields"]["city"] == {"old": None, "new": "Berlin"}
    assert made["fields"]["lines"] == {"changed": True}
    gone = change_of(deleted, "addresses")
    assert gone["op"] == "deleted" and gone["fields"]["city"] == {"old": "Berlin", "new": None}
    assert "1 Main St" not in str(created.changes) + str(deleted.changes)


# Every write route under /v1/profiles/{user_id}, called in this order on one user whose
# resources the path parameters name: creations and updates first, then deletions of the
# most specific resources, and last the writes that end the user.
ENDING = ("DELETE /v1/profiles/{user_id}", "POST /v1/profiles/{user_id}/erase")
NOT_DATA = {"PUT /v1/profiles/{user_id}/presence": "presence is activity, not stored data"}
BODIES = {
    "PATCH /v1/profiles/{user_id}": {"bio": "patched"},
    "PATCH /v1/profiles/{user_id}/contacts/{contact_user_id}": {"nickname": "pal"},
    "PATCH /v1/profiles/{user_id}/privacy": {"bio": "contacts"},
    "PATCH /v1/profiles/{user_id}/viewers/{viewer_id}": {"name": "kiddo"},
    "POST /v1/profiles/{user_id}/ratings": {"video_id": "second-video", "stars": 4},
    "PATCH /v1/profiles/{user_id}/body": {"activity_level": "very_active"},
    "PATCH /v1/profiles/{user_id}/eating": {"meals_per_day": 4},
    "PATCH /v1/profiles/{user_id}/calories/{event_id}": {"kcal": 321},
    "PATCH /v1/profiles/{user_id}/movement": {"days_per_week": 5},
}
"""Bodies where the authorization matrix's example would not change anything (a merge patch
of the matrix is a profile's)."""


def write_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    found = [
        (f"{method} {route.path_format}", route)
        for route, method in api_routes(app)
        if method != "GET" and route.path_format.startswith("/v1/profiles/{user_id}")
    ]

    def order(item: tuple[str, APIRoute]) -> tuple[int, int]:
        name = item[0]
        if name in ENDING:
            return 2, ENDING.index(name)
        if name.startswith("DELETE"):
            return 1, -name.count("{")
        return 0, 0

    return sorted(found, key=order)


async def seeded_user(client: httpx.AsyncClient) -> dict[str, str]:
    """A user with a resource of each kind a write route's path names, and its ids."""
    user, friend, stranger, fan, asker = [await make_user(client) for _ in range(5)]
    me = bearer(user)
    base = f"/v1/profiles/{user}"
    switch = {"private_account": True}
    private = await client.patch(f"{base}/privacy", json=switch, headers={**me, **MERGE_PATCH})
    assert private.status_code == 200, private.text
    for requester in (fan, asker):  # requests to accept (fan) and to decline (asker)
        await client.put(f"/v1/profiles/{requester}/following/{user}", headers=bearer(requester))
    address = {"kind": "shipping", "lines": ["2 Side St"], "city": "Oslo", "country": "NO"}
    address_id = (await client.post(f"{base}/addresses", json=address, headers=me)).json()["id"]
    viewer = await client.post(f"{base}/viewers", json={"name": "kids"}, headers=me)
    entry_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    beat = {"video_id": "seed", "position_seconds": 5, "duration_seconds": 50, "entry_id": entry_id}
    calorie = {"event_id": event_id, "kind": "consumed", "kcal": 100, "at": "2026-01-02T08:00:00Z"}
    for url, body in ((f"{base}/history", beat), (f"{base}/calories", calorie)):
        assert (await client.post(url, json=body, headers=me)).status_code in (200, 201)
    return {
        "user_id": str(user),
        "address_id": address_id,
        "contact_user_id": str(friend),
        "followed_user_id": str(friend),
        "muted_user_id": str(friend),
        "follower_user_id": str(fan),
        "requester_user_id": str(asker),
        "blocked_user_id": str(stranger),
        "viewer_id": viewer.json()["viewer_id"],
        "video_id": "pwned-video",  # the matrix examples' watchlist item and beat
        "entry_id": entry_id,
        "event_id": event_id,
    }


async def test_every_write_route_of_every_domain_is_audited(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    values = await seeded_user(client)
    user = uuid.UUID(values["user_id"])
    audited: list[str] = []
    for name, route in write_routes(app):
        if name in NOT_DATA:
            continue
        method, template = name.split(" ", 1)
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[str(m.group(1))], template)
        request_id = f"audit-{len(audited)}"
        headers = {**bearer(user), "X-Request-ID": request_id}
        if method == "PATCH":
            headers |= MERGE_PATCH
        arguments = request_body(route, headers)
        if name in BODIES:
            arguments["json"] = BODIES[name]
        answer = await client.request(method, path, **arguments)
        assert answer.is_success, (name, answer.status_code, answer.text)
        found = await records(app.state.db, user, request_id)
        assert found, f"{name} changed the user's data without an audit record"
        assert all(r.actor == str(user) for r in found), name
        audited.append(name)
    assert len(audited) >= 30


async def test_presence_is_not_audited(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    before = await record_ids(app.state.db, user)
    beat = await client.put(
        f"/v1/profiles/{user}/presence", json={"status": "busy"}, headers=bearer(user)
    )
    assert beat.is_success
    assert await record_ids(app.state.db, user) == before


async def test_a_calorie_batch_is_one_record(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    batch = [{"kind": "consumed", "kcal": 10 + n, "at": "2026-01-02T08:00:00Z"} for n in range(200)]
    answer = await client.post(
        f"/v1/profiles/{user}/calories", json={"events": batch}, headers=bearer(user)
    )
    assert answer.status_code == 201, answer.text
    (record,) = [r for r in await records(app.state.db, user) if "calories" in r.action]
    assert record.events == ["profilestore.nutrition.CaloriesLogged"]


async def test_what_does_not_commit_is_not_recorded(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    taken = await make_user(client, "taken_name")
    other = uuid.uuid4()
    headers = {**bearer(other), "X-Request-ID": "refused-write"}
    refused = await client.put(
        f"/v1/profiles/{other}", json={"username": "taken_name"}, headers=headers
    )
    assert refused.status_code == 409
    assert await records(app.state.db, other) == []

    db: Database = app.state.db
    async with db.write_session() as session:
        profile = await session.get(Profile, taken)
        assert profile is not None
        profile.bio = "flushed, then rolled back"
        await session.flush()
        await session.rollback()
    async with db.write_session() as session:
        profile = await session.get(Profile, taken)
        assert profile is not None
        try:
            async with session.begin_nested():
                profile.display_name = "undone"
                await session.flush()
                raise LookupError("roll the savepoint back")
        except LookupError:
            pass
        profile.bio = "kept"
        await session.commit()
    created, last = await records(db, taken)  # nothing of the rolled back flushes
    assert created.action == "PUT /v1/profiles/{user_id}"
    assert last.actor == audit.SYSTEM and last.request_id is None
    assert change_of(last, "profiles")["fields"] == {"bio": {"old": None, "new": "kept"}}


async def test_background_work_is_recorded_as_the_system(app: FastAPI) -> None:
    user = uuid.uuid4()
    now = utcnow()
    async with background_work(app.state.db) as session:
        session.add(
            Profile(user_id=user, username=f"u{user.hex[:10]}", created_at=now, updated_at=now)
        )
    (record,) = await records(app.state.db, user)
    assert (record.actor, record.action, record.actor_roles) == ("system", "system", [])


async def test_pages_newest_first_by_cursor(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    for n in range(6):
        patch = {"bio": f"bio {n}"}
        await client.patch(
            f"/v1/profiles/{user}", json=patch, headers={**bearer(user), **MERGE_PATCH}
        )
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"/v1/profiles/{user}/audit", params=params, headers=bearer(user))
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 7  # the creation and 6 patches
    newest = (await client.get(f"/v1/profiles/{user}/audit", headers=bearer(user))).json()
    assert newest["items"][0]["changes"][0]["fields"]["bio"] == {"old": "bio 4", "new": "bio 5"}
    past_the_first = await client.get(
        f"/v1/profiles/{user}/audit", params={"cursor": "A" * 11}, headers=bearer(user)
    )
    assert past_the_first.json() == {"items": [], "next_cursor": None}  # the cursor of id 0
    for cursor in ("nope", "0" * 11):  # not base64 of an id; an id past 2**63
        wrong = await client.get(
            f"/v1/profiles/{user}/audit", params={"cursor": cursor}, headers=bearer(user)
        )
        assert wrong.status_code == 422, cursor
        assert wrong.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("caller", ["owner", "admin", "stranger", "service"])
async def test_the_owner_and_admins_read_it_and_others_get_404(
    client: httpx.AsyncClient, caller: str
) -> None:
    user = await make_user(client)
    headers = {
        "owner": bearer(user),
        "admin": ADMIN,
        "stranger": bearer(uuid.uuid4()),
        "service": SERVICE,
    }[caller]
    answer = await client.get(f"/v1/profiles/{user}/audit", headers=headers)
    if caller in ("owner", "admin"):
        assert answer.status_code == 200
        assert answer.json()["items"][0]["action"] == "PUT /v1/profiles/{user_id}"
    else:
        assert answer.status_code == 404


async def test_retention_prunes_old_records_in_the_relays_housekeeping(app: FastAPI) -> None:
    db: Database = app.state.db
    user = uuid.uuid4()
    async with db.write_session() as session:
        for age_days in (400, 10):
            record = new_record(user, Actor("someone"), events=["x"], changes=[])
            record.at = utcnow() - dt.timedelta(days=age_days)
            session.add(record)
        await session.commit()
    config = relay_config(Settings(audit_retention_days=30))
    assert config.audit_retention_seconds == 30 * 86400
    relay = Relay(db, FeedOnlyPublisher(), RelayConfig(audit_retention_seconds=30 * 86400))
    await relay.run_once()
    (kept,) = await records(db, user)
    assert utcnow() - kept.at < dt.timedelta(days=11)


async def test_erase_audit_leaves_only_a_record_of_the_erasure(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user, other = await make_user(client), await make_user(client)
    await client.patch(
        f"/v1/profiles/{user}", json={"bio": "x"}, headers={**bearer(user), **MERGE_PATCH}
    )
    others_before = await record_ids(app.state.db, other)
    eraser = Actor("admin-tool", ("admin",), "erase-req", "POST /v1/profiles/{user_id}/erase")
    async with app.state.db.write_session() as session:
        profile = await session.get(Profile, user)
        profile.bio = "changed in the erasing transaction"
        await erase_audit(session, user, eraser)
        await session.commit()
    (marker,) = await records(app.state.db, user)
    assert (marker.action, marker.actor, marker.actor_roles, marker.request_id) == (
        audit.ERASURE,
        "admin-tool",
        ["admin"],
        "erase-req",
    )
    assert (marker.changes, marker.events) == ([], [])
    assert await record_ids(app.state.db, other) == others_before


def test_sensitive_fields_name_columns_of_the_domains_tables() -> None:
    tables = target_metadata().tables
    for domain in DOMAINS:
        for name in domain.audit_sensitive:
            table, column = name.split(".")
            assert table in domain.export_tables and column in tables[table].columns, name


def test_a_table_no_installed_domain_owns_has_every_value_masked() -> None:
    policy = Policy(
        owned=frozenset({"profiles"}), sensitive=frozenset(), skipped_events=frozenset()
    )
    assert not policy.masked("profiles", "bio")
    assert policy.masked("unknown_table", "anything")


def test_changes_of_one_row_in_one_transaction_are_merged() -> None:
    policy = Policy(owned=frozenset({"t"}), sensitive=frozenset(), skipped_events=frozenset())
    user = uuid.uuid4()

    def row(key: int, op: str, old: dict[str, Any], new: dict[str, Any]) -> Captured:
        return Captured(user, None, None, "t", {"id": key}, op, old, new)

    items = [
        row(1, "created", {}, {"a": 1}),
        row(1, "updated", {"a": 1}, {"a": 2}),
        row(2, "created", {}, {"a": 1}),
        row(2, "deleted", {"a": 1}, {}),
        row(3, "updated", {"a": 1, "b": 1}, {"a": 2, "b": 2}),
        row(3, "updated", {"a": 2}, {"a": 1}),
    ]
    events, changes = summarize(items, policy)
    assert events == []
    assert changes == [
        {
            "resource": "t",
            "key": {"id": 1},
            "op": "created",
            "fields": {"a": {"old": None, "new": 2}},
        },
        {"resource": "t", "key": {"id": 3}, "op": "updated", "fields": {"b": {"old": 1, "new": 2}}},
    ]


def test_a_record_lists_a_bounded_number_of_row_changes() -> None:
    changes = [
        {"resource": "t", "key": {"id": n}, "op": "created", "fields": {}} for n in range(60)
    ]
    record = new_record(uuid.uuid4(), Actor("someone"), events=[], changes=changes)
    assert len(record.changes) == audit.MAX_ROW_CHANGES and record.more_changes == 10
