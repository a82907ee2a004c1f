"""Hostile input, generated: for every field of every JSON body and every query and header
parameter the OpenAPI document declares (so a route added later is covered), hypothesis sends
hostile strings, numbers, datetimes and shapes, on SQLite and PostgreSQL, and the service must
answer without a 5xx, refuse with problem+json, and store nothing when it refuses."""

from __future__ import annotations

import json
import math
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from profilestore.app import create_app
from profilestore.migrations.runner import target_metadata
from profilestore.settings import Settings
from tests.api.test_authorization_matrix import EXAMPLE_BODIES
from tests.support import ADMIN, TEST_SECRET, bearer

EXAMPLES_PER_FIELD = 25
SPEC_APP = create_app(Settings(jwt_secret=TEST_SECRET, data_dir=Path(tempfile.mkdtemp())))
SPEC = SPEC_APP.openapi()
SKIPPED_PATHS = {"/v1/events/stream"}  # a stream: its header is covered by the feed's twin

HOSTILE_TEXT = [
    "a\x00b",
    "\x00",
    "\ud800",
    "x\udfff",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u202eevil",
    "",
    "   ",
    "\t\n",
    "\r\n",
    "e\u0301",
    "\uffff",
    "x" * 5000,
    "\U0001d518",
    "'; DROP TABLE profiles; --",
]
HOSTILE_NUMBERS = [2**63, -(2**63) - 1, 10**40, -1, 0, 1.5, 1e308, -0.0, math.inf, math.nan]
HOSTILE_DATETIMES = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2024-01-01T00:00:00",
    "2024-13-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
]
HOSTILE_DATES = ["0001-01-01", "9999-12-31", "1899-12-31", "2024-02-30", "+2024-01-01"]
HOSTILE_SHAPES = [None, True, False, [], {}, ["a\x00"], {"\x00": 1}, [[[[[]]]]]]
hostile_values = st.one_of(
    st.sampled_from(
        HOSTILE_TEXT + HOSTILE_NUMBERS + HOSTILE_DATETIMES + HOSTILE_DATES + HOSTILE_SHAPES
    ),
    st.text(st.characters(codec=None, categories=("Cc", "Cs", "Cf", "Zs", "Mn")), max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
hostile_query_values = st.one_of(
    st.sampled_from(
        ["%00", "a%00b", "%ff", "%ed%a0%80", "10000000000000000000", "-1", "²", "٣", *HOSTILE_DATES]
    ),
    st.text(st.characters(codec="utf-8", categories=("Cc", "Nd", "No", "Zs")), max_size=30),
)


def _model_of(schema: dict[str, Any]) -> str | None:
    for option in (schema, *schema.get("anyOf", [])):
        if "$ref" in option:
            return str(option["$ref"]).rsplit("/", 1)[-1]
    return None


def _body_fields() -> list[tuple[str, str, str, str]]:
    """(method, path, model, field) for every property of every JSON request body. A merge
    patch takes the fields of the PUT on the same path."""
    components = SPEC["components"]["schemas"]
    found = []
    for path, operations in SPEC["paths"].items():
        put_model = None
        put = operations.get("put", {}).get("requestBody", {})
        if "application/json" in put.get("content", {}):  # not an upload (an avatar image)
            put_model = _model_of(put["content"]["application/json"]["schema"])
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = next(iter(content.values()), {}).get("schema", {})
            model = _model_of(schema) or (put_model if method == "patch" else None)
            if model is None or path in SKIPPED_PATHS:
                continue
            found += [(method, path, model, f) for f in components[model].get("properties", {})]
    return found


def _parameters() -> list[tuple[str, str, str, str]]:
    """(method, path, location, name) for every query and header parameter."""
    return [
        (method, path, parameter["in"], parameter["name"])
        for path, operations in SPEC["paths"].items()
        if path not in SKIPPED_PATHS
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] in ("query", "header")
    ]


HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES_PER_FIELD,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
BODY_FIELDS = _body_fields()
PARAMETERS = _parameters()


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> dict[str, str]:
    """A user with a profile, a contact, a block, an address, a viewer, a watchlist item, a
    history entry, a rating and a calorie event, and a programme: path ids that exist."""
    user, friend, blocked = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for who in (user, friend, blocked):
        body = {"username": f"h{who.hex[:10]}"}
        assert (await client.put(f"/v1/profiles/{who}", json=body, headers=bearer(who))).is_success
    me = bearer(user)
    await client.put(f"/v1/profiles/{user}/contacts/{friend}", headers=me)
    await client.put(f"/v1/profiles/{user}/blocks/{blocked}", headers=me)
    address = await client.post(
        f"/v1/profiles/{user}/addresses",
        json={"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"},
        headers=me,
    )
    media = f"/v1/profiles/{user}"
    viewer = await client.post(f"{media}/viewers", json={"name": "Kid"}, headers=me)
    video = "seed.video:1"
    await client.post(f"{media}/watchlist", json={"video_id": video}, headers=me)
    beat = {"video_id": video, "position_seconds": 60, "duration_seconds": 600}
    entry = await client.post(f"{media}/history", json=beat, headers=me)
    await client.put(f"{media}/ratings/{video}", json={"stars": 4, "review": "ok"}, headers=me)
    calorie = {"kind": "consumed", "kcal": 300, "at": "2026-01-01T12:00:00Z"}
    logged = await client.post(f"{media}/calories", json=calorie, headers=me)
    program = {
        "program_id": "seed-program",
        "name": "Seed",
        "goals": ["strength"],
        "level": "beginner",
        "days_per_week": 3,
        "session_minutes": 30,
    }
    assert (await client.post("/v1/programs", json=program, headers=ADMIN)).status_code == 201
    return {
        "user_id": str(user),
        "contact_user_id": str(friend),
        "followed_user_id": str(friend),
        "muted_user_id": str(friend),
        "follower_user_id": str(friend),
        "requester_user_id": str(friend),
        "blocked_user_id": str(blocked),
        "address_id": address.json()["id"],
        "viewer_id": viewer.json()["viewer_id"],
        "video_id": video,
        "entry_id": entry.json()["entry_id"],
        "event_id": logged.json()["event_id"],
        "program_id": "seed-program",
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def _row_counts(app: FastAPI) -> dict[str, Any]:
    """Every table's row count and latest change: a refused request must leave them all."""
    state: dict[str, Any] = {}
    async with app.state.db.read_session() as session:
        for table in target_metadata().sorted_tables:
            latest = table.c.updated_at if "updated_at" in table.c else None
            columns = [func.count()] + ([func.max(latest)] if latest is not None else [])
            state[table.name] = tuple((await session.execute(select(*columns))).one())
    return state


def _check_answer(response: httpx.Response, sent: Any) -> None:
    assert response.status_code < 500, (sent, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text


def _encoded(body: dict[str, Any]) -> bytes:
    """JSON as a client might send it: ASCII escapes (so lone surrogates travel), and the
    non-standard NaN/Infinity tokens some encoders emit."""
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


def _headers_for(method: str, path: str, user: str) -> dict[str, str]:
    """The owner's token, or an admin's on the admin-only catalogue (so bodies get validated)."""
    media = "application/merge-patch+json" if method == "patch" else "application/json"
    caller = ADMIN if path.startswith("/v1/programs") else bearer(user)
    return {**caller, "Content-Type": media}


@pytest.mark.parametrize(("method", "path", "model", "field"), BODY_FIELDS)
@HOSTILE_SETTINGS
@given(value=hostile_values)
async def test_hostile_body_fields(
    client: httpx.AsyncClient,
    app: FastAPI,
    seeded: dict[str, str],
    method: str,
    path: str,
    model: str,
    field: str,
    value: Any,
) -> None:
    body = {**EXAMPLE_BODIES.get(model, {}), field: value}
    if model == "ProfileWrite":
        body.setdefault("username", f"h{seeded['user_id'][:8]}")
    before = await _row_counts(app)
    response = await client.request(
        method.upper(),
        _fill(path, seeded),
        content=_encoded(body),
        headers=_headers_for(method, path, seeded["user_id"]),
    )
    _check_answer(response, body)
    if response.status_code >= 400:
        assert await _row_counts(app) == before, (body, response.status_code)


@pytest.mark.parametrize(("method", "path", "location", "name"), PARAMETERS)
@HOSTILE_SETTINGS
@given(value=hostile_query_values)
async def test_hostile_query_and_header_parameters(
    client: httpx.AsyncClient,
    app: FastAPI,
    seeded: dict[str, str],
    method: str,
    path: str,
    location: str,
    name: str,
    value: str,
) -> None:
    url = _fill(path, seeded)
    headers: dict[str, Any] = {**ADMIN}
    if location == "query":
        url = f"{url}?{name}={quote(value, safe='%')}"  # the sampled %-escapes stay raw
    else:
        headers[name] = value.encode("utf-8")
    before = await _row_counts(app)
    response = await client.request(method.upper(), url, headers=headers)
    _check_answer(response, value)
    if response.status_code >= 400:
        assert await _row_counts(app) == before, (name, value, response.status_code)


def test_every_kind_of_input_is_covered() -> None:
    """The lists above come from the OpenAPI document; make sure it gave them something."""
    models = {model for _, _, model, _ in BODY_FIELDS}
    assert {"ProfileWrite", "AddressWrite", "PresenceWrite", "ContactWrite", "BlockWrite"} <= models
    names = {name for *_, name in PARAMETERS}
    assert {"after", "cursor", "username", "ids", "limit", "if-match"} <= names
