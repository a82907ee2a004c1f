"""GraphQL at /graphql (both databases): the same routes, rules and problem types as REST;
createUserProfile in one transaction; DataLoader batching proven by counting statements;
depth, cost and introspection limits; GET for queries, POST only for mutations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests.api.test_hub import fill_every_domain
from tests.api.test_social import block_url, contact_url, make_user
from tests.support import ADMIN, bearer

USER_QUERY = """
query One($id: UUID!) {
  user(id: $id) {
    id
    profile { username timezone }
    body { heightCm bmr }
    eating { diet }
    goal { goalType active }
    movement { goals }
    contacts(first: 10) { nodes { contactUserId profile { username } } pageInfo { hasNextPage } }
    watchlist(first: 5) { nodes { videoId } }
    continueWatching(first: 5) { nodes { videoId } }
    calorieSummary(granularity: "day") { granularity buckets { consumed } }
    programs { items { score program { programId } } }
  }
}
"""


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    headers: dict[str, str],
    variables: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> dict[str, Any]:
    answer = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_the_owner_reads_every_domain(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)
    program = {
        "program_id": "gq-strength",
        "name": "Strength",
        "goals": ["strength"],
        "level": "beginner",
        "days_per_week": 3,
        "session_minutes": 45,
    }
    assert (await client.post("/v1/programs", json=program, headers=ADMIN)).status_code == 201
    body = await graphql(client, USER_QUERY, bearer(user), {"id": str(user)})
    assert "errors" not in body, body
    data = body["data"]["user"]
    assert data["id"] == str(user)
    assert data["profile"]["username"] and data["body"]["heightCm"] == 170
    assert data["body"]["bmr"] > 0 and data["eating"]["diet"] == "vegan"
    assert data["goal"] == {"goalType": "maintenance", "active": True}
    assert data["movement"]["goals"] == ["strength"]
    assert len(data["contacts"]["nodes"]) == 1 and data["contacts"]["nodes"][0]["profile"]
    assert data["watchlist"]["nodes"] == [{"videoId": "v1"}]
    assert data["continueWatching"]["nodes"] == [{"videoId": "v2"}]
    assert data["calorieSummary"]["buckets"][-1]["consumed"] == 420
    assert data["programs"]["items"][0]["program"] == {"programId": "gq-strength"}
    rest = (await client.get(f"/v1/profiles/{user}/body", headers=bearer(user))).json()
    assert data["body"]["bmr"] == rest["bmr"]
    me = await graphql(client, "{ me { id profile { username } } }", bearer(user))
    assert me["data"]["me"]["id"] == str(user)


async def test_a_stranger_sees_the_public_profile_only(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)
    stranger = await make_user(client)
    body = await graphql(client, USER_QUERY, bearer(stranger), {"id": str(user)})
    assert "errors" not in body, body
    data = body["data"]["user"]
    assert data["profile"]["username"] and data["profile"]["timezone"] is None
    private = ["body", "eating", "goal", "movement", "contacts", "watchlist", "calorieSummary"]
    assert all(data[name] is None for name in private), data
    admin = await graphql(client, USER_QUERY, ADMIN, {"id": str(user)})
    assert admin["data"]["user"]["body"]["heightCm"] == 170


async def test_a_blocked_caller_and_an_unknown_user_get_not_found(
    client: httpx.AsyncClient,
) -> None:
    user = await make_user(client)
    other = await make_user(client)
    blocked = await client.put(block_url(user, other), json={}, headers=bearer(user))
    assert blocked.status_code in (200, 201)
    for caller, target in ((other, user), (user, uuid.uuid4())):
        body = await graphql(client, USER_QUERY, bearer(caller), {"id": str(target)})
        assert body["data"] == {"user": None} and codes(body) == ["not-found"]


async def test_no_token_is_401_and_a_bad_token_too(client: httpx.AsyncClient) -> None:
    answer = await client.post("/graphql", json={"query": "{ me { id } }"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    bad = await client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": "Bearer x.y.z"}
    )
    assert bad.status_code == 401


CREATE = """
mutation Create($input: CreateUserProfileInput!) {
  createUserProfile(input: $input) {
    user {
      id profile { username } body { weightKg } eating { diet }
      movement { days_per_week: daysPerWeek }
    }
    steps { step domain status error { code } }
  }
}
"""


def onboarding_input(username: str, **overrides: Any) -> dict[str, Any]:
    given = {
        "profile": {"username": username, "timezone": "Europe/Paris"},
        "body": {"heightCm": 180.0, "weightKg": 80.0, "birthDate": "1990-05-01", "sex": "male"},
        "eating": {"diet": "vegetarian"},
        "movement": {"goals": ["endurance"], "daysPerWeek": 3},
    }
    return given | overrides


async def test_create_user_profile_writes_every_part_once(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    name = f"u{user.hex[:10]}"
    body = await graphql(client, CREATE, bearer(user), {"input": onboarding_input(name)})
    assert "errors" not in body, body
    created = body["data"]["createUserProfile"]
    assert created["user"]["profile"]["username"] == name
    assert created["user"]["body"]["weightKg"] == 80 and created["user"]["eating"]["diet"]
    assert created["user"]["movement"]["days_per_week"] == 3
    assert {s["step"]: s["status"] for s in created["steps"]} == dict.fromkeys(
        ("profile", "body", "eating", "movement"), "created"
    )
    again = await graphql(client, CREATE, bearer(user), {"input": onboarding_input(name)})
    statuses = {s["step"]: s["status"] for s in again["data"]["createUserProfile"]["steps"]}
    assert statuses == dict.fromkeys(("profile", "body", "eating", "movement"), "unchanged")
    changed = onboarding_input(name, eating={"diet": "vegan"})
    third = await graphql(client, CREATE, bearer(user), {"input": changed})
    statuses = {s["step"]: s["status"] for s in third["data"]["createUserProfile"]["steps"]}
    assert statuses["eating"] == "updated" and statuses["body"] == "unchanged"


async def test_create_user_profile_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    given = onboarding_input(f"u{user.hex[:10]}", movement={"daysPerWeek": 9})
    body = await graphql(client, CREATE, bearer(user), {"input": given})
    assert body["data"] is None and codes(body) == ["validation-failed"]
    error = body["errors"][0]["extensions"]
    assert error["step"] == "movement" and error["errors"][0]["field"].endswith("days_per_week")
    for path in ("", "/body", "/eating", "/movement"):
        answer = await client.get(f"/v1/profiles/{user}{path}", headers=ADMIN)
        assert answer.status_code == 404, (path, answer.text)
    outbox = await client.get("/v1/events", headers=ADMIN)
    assert str(user) not in outbox.text


async def test_create_user_profile_for_another_user_is_refused(
    client: httpx.AsyncClient,
) -> None:
    caller, target = uuid.uuid4(), uuid.uuid4()
    given = onboarding_input(f"u{target.hex[:10]}") | {"userId": str(target)}
    body = await graphql(client, CREATE, bearer(caller), {"input": given})
    assert body["data"] is None and codes(body) == ["forbidden"]
    assert (await client.get(f"/v1/profiles/{target}", headers=ADMIN)).status_code == 404
    by_admin = await graphql(client, CREATE, ADMIN, {"input": given})
    assert "errors" not in by_admin, by_admin


async def test_mutations_use_the_routes_rules(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    update = """mutation U($id: UUID!, $input: ProfileWriteInput!) {
      updateProfile(userId: $id, input: $input) { bio version } }"""
    body = await graphql(client, update, bearer(user), {"id": str(user), "input": {"bio": "hi"}})
    assert body["data"]["updateProfile"]["bio"] == "hi"
    stranger = await make_user(client)
    refused = await graphql(
        client, update, bearer(stranger), {"id": str(user), "input": {"bio": "x"}}
    )
    assert codes(refused) == ["forbidden"]
    log = """mutation L($id: UUID!, $input: CalorieWriteInput!) {
      logCalories(userId: $id, input: $input) { eventId kcal kind } }"""
    at = dt.datetime.now(dt.UTC).isoformat()
    entry = {"kind": "consumed", "kcal": 250.5, "at": at}
    logged = await graphql(client, log, bearer(user), {"id": str(user), "input": entry})
    assert logged["data"]["logCalories"]["kcal"] == 250.5
    bad = await graphql(client, log, bearer(user), {"id": str(user), "input": entry | {"kcal": -1}})
    assert codes(bad) == ["validation-failed"] and bad["errors"][0]["extensions"]["errors"]
    goal = """mutation G($id: UUID!, $input: GoalWriteInput!) {
      setGoal(userId: $id, input: $input) { goalType active } }"""
    set_goal = await graphql(
        client, goal, bearer(user), {"id": str(user), "input": {"goalType": "maintenance"}}
    )
    assert set_goal["data"]["setGoal"] == {"goalType": "maintenance", "active": True}


@contextmanager
def counted_statements(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []
    engines = {app.state.db.engine.sync_engine}
    read_engine = getattr(app.state.db, "read_engine", None)
    if read_engine is not None:
        engines.add(read_engine.sync_engine)

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


CONTACTS = """query C($id: UUID!, $first: Int) { user(id: $id) {
  contacts(first: $first) { nodes { nickname user { id profile { username } } } } } }"""


@pytest.mark.parametrize("contacts", [5, 50])
async def test_contacts_with_profiles_are_a_bounded_number_of_queries(
    client: httpx.AsyncClient, app: FastAPI, contacts: int
) -> None:
    user = await make_user(client)
    for _ in range(contacts):
        friend = await make_user(client)
        answer = await client.put(contact_url(user, friend), json={}, headers=bearer(user))
        assert answer.status_code == 201
    with counted_statements(app) as statements:
        body = await graphql(client, CONTACTS, bearer(user), {"id": str(user), "first": 50})
    nodes = body["data"]["user"]["contacts"]["nodes"]
    assert len(nodes) == contacts and all(node["user"]["profile"]["username"] for node in nodes)
    assert len(statements) <= 12, statements


async def test_cost_limit(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    deep = "{ me { contacts { nodes { user { profile { username } } } } } }"
    assert "errors" not in await graphql(client, deep, bearer(user))
    costly = (
        "{ me { contacts(first: 1000) { nodes { user { profile "
        "{ username bio locale timezone avatarUrl displayName } } } } } }"
    )
    refused = await graphql(client, costly, bearer(user))
    assert codes(refused) == ["query-too-costly"], refused
    assert refused["errors"][0]["extensions"]["cost"] > 5000


async def test_depth_limit(settings: Any) -> None:
    from tests.support import client_for

    shallow = settings.model_copy(update={"graphql_max_depth": 4})
    async with client_for(shallow) as client:
        user = await make_user(client)
        deep = "{ me { contacts { nodes { user { profile { username } } } } } }"
        refused = await graphql(client, deep, bearer(user))
        assert "depth" in refused["errors"][0]["message"], refused
        shallow_query = "{ me { profile { username } } }"
        assert "errors" not in await graphql(client, shallow_query, bearer(user))


async def test_queries_by_get_and_mutations_not(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    answer = await client.get("/graphql", params={"query": "{ me { id } }"}, headers=bearer(user))
    assert answer.status_code == 200 and answer.json()["data"]["me"]["id"] == str(user)
    refused = await client.get(
        "/graphql",
        params={"query": 'mutation { updateProfile(userId: "x", input: {}) { bio } }'},
        headers=bearer(user),
    )
    assert refused.status_code in (400, 405)
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_introspection_is_off_in_production(settings: Any) -> None:
    from tests.support import client_for

    production = settings.model_copy(update={"environment": "production"})
    async with client_for(production) as client:
        user = await make_user(client)
        body = await graphql(client, "{ __schema { types { name } } }", bearer(user))
        assert body["errors"] and "introspection" in body["errors"][0]["message"].lower()
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code != 200 or "graphiql" not in page.text.lower()
        assert "errors" not in await graphql(client, "{ me { id } }", bearer(user))


ENTITIES = """query E($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on User { id body { heightCm } movement { goals } profile { username } } } }"""


async def test_the_subgraph_serves_entities_for_a_gateway(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await fill_every_domain(client, user)
    answer = await client.post(
        "/graphql/subgraph", json={"query": "{ _service { sdl } }"}, headers=bearer(user)
    )
    assert 'type User @key(fields: "id")' in answer.json()["data"]["_service"]["sdl"]
    reps = {"reps": [{"__typename": "User", "id": str(user)}]}
    owner = await client.post(
        "/graphql/subgraph", json={"query": ENTITIES, "variables": reps}, headers=bearer(user)
    )
    entity = owner.json()["data"]["_entities"][0]
    assert entity["id"] == str(user) and entity["body"] == {"heightCm": 170}
    assert entity["movement"] == {"goals": ["strength"]} and entity["profile"]["username"]
    stranger = await client.post(
        "/graphql/subgraph",
        json={"query": ENTITIES, "variables": reps},
        headers=bearer(uuid.uuid4()),
    )
    assert stranger.json()["data"]["_entities"][0]["body"] is None
    anonymous = await client.post("/graphql/subgraph", json={"query": "{ _service { sdl } }"})
    assert anonymous.status_code == 401
