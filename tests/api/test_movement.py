"""The movement domain: the training profile, the programme catalogue (admin writes, anyone
signed in reads, the sample catalogue and its loader) and the ranked programmes a user can do."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from profilestore import cli
from profilestore.domains.movement.public import SAMPLE_CATALOGUE
from profilestore.maintenance import load_programs
from profilestore.platform.errors import ProblemError
from tests.api.test_social import make_user
from tests.events_support import outbox_rows
from tests.support import ADMIN, SERVICE, bearer

MERGE = {"Content-Type": "application/merge-patch+json"}


def movement_url(user: uuid.UUID) -> str:
    return f"/v1/profiles/{user}/movement"


def program(program_id: str, **fields: Any) -> dict[str, Any]:
    base = {
        "program_id": program_id,
        "name": program_id.replace("-", " ").title(),
        "goals": ["strength"],
        "level": "beginner",
        "days_per_week": 3,
        "session_minutes": 45,
        "equipment": [],
        "loads": [],
        "activities": [],
    }
    return base | fields


async def add_programs(client: httpx.AsyncClient, *programs: dict[str, Any]) -> None:
    for body in programs:
        answer = await client.post("/v1/programs", json=body, headers=ADMIN)
        assert answer.status_code == 201, answer.text


async def test_training_profile_lifecycle(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_user(client)
    me = bearer(user)
    assert (await client.get(movement_url(user), headers=me)).status_code == 404
    body = {
        "goals": ["strength", "mobility", "strength"],
        "experience": "beginner",
        "days_per_week": 3,
        "session_minutes": 45,
        "equipment": ["dumbbells", "bands"],
        "preferred_activities": ["yoga", "running", "yoga"],
        "limitations": ["knees"],
    }
    created = await client.put(movement_url(user), json=body, headers=me)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["goals"] == ["mobility", "strength"]
    assert view["preferred_activities"] == ["yoga", "running"]
    tag = created.headers["etag"]
    read = await client.get(movement_url(user), headers=SERVICE)
    assert read.status_code == 200 and read.json()["limitations"] == ["knees"]
    assert (
        await client.get(movement_url(user), headers={**me, "If-None-Match": tag})
    ).status_code == 304

    stale = await client.patch(
        movement_url(user), json={"days_per_week": 4}, headers={**me, **MERGE, "If-Match": '"0"'}
    )
    assert stale.status_code == 412
    patched = await client.patch(
        movement_url(user), json={"days_per_week": 4, "equipment": None}, headers={**me, **MERGE}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["days_per_week"], patched.json()["equipment"]) == (4, None)
    assert patched.json()["version"] == 2

    rows = [r.payload for r in await outbox_rows(app.state.db)]
    changed = [r["data"] for r in rows if r["type"].endswith("MovementProfileChanged")]
    assert [sorted(c["changed"]) for c in changed][-1] == ["days_per_week", "equipment"]
    assert changed[-1]["profile"]["days_per_week"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"days_per_week": 0}, "days_per_week"),
        ({"days_per_week": 8}, "days_per_week"),
        ({"session_minutes": 5}, "session_minutes"),
        ({"session_minutes": 181}, "session_minutes"),
        ({"goals": ["fame"]}, "goals"),
        ({"experience": "expert"}, "experience"),
        ({"equipment": ["sofa"]}, "equipment"),
        ({"limitations": ["toes"]}, "limitations"),
        ({"preferred_activities": ["Rock Climbing"]}, "preferred_activities"),
        ({"preferred_activities": ["x" * 33]}, "preferred_activities"),
        ({"days_per_week": "3"}, "days_per_week"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_training_profiles_are_refused(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    user = await make_user(client)
    answer = await client.put(movement_url(user), json=body, headers=bearer(user))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert any(field in error["field"] for error in answer.json()["errors"]), answer.text
    assert (await client.get(movement_url(user), headers=bearer(user))).status_code == 404


async def test_the_training_profile_is_private(client: httpx.AsyncClient) -> None:
    user = await make_user(client)
    await client.put(movement_url(user), json={"goals": ["sport"]}, headers=bearer(user))
    stranger = bearer(uuid.uuid4())
    assert (await client.get(movement_url(user), headers=stranger)).status_code == 404
    written = await client.put(movement_url(user), json={}, headers=stranger)
    assert written.status_code == 404
    by_service = await client.put(movement_url(user), json={}, headers=SERVICE)
    assert by_service.status_code == 404  # services read, they do not write
    assert (await client.put(movement_url(user), json={}, headers=ADMIN)).status_code == 200
    nobody = uuid.uuid4()
    assert (
        await client.put(movement_url(nobody), json={}, headers=bearer(nobody))
    ).status_code == 404


async def test_the_catalogue_is_read_by_anyone_and_written_by_admins(
    client: httpx.AsyncClient,
) -> None:
    user = bearer(uuid.uuid4())
    refused = await client.post("/v1/programs", json=program("couch-to-5k"), headers=user)
    assert refused.status_code == 403
    assert (
        await client.post("/v1/programs", json=program("p1"), headers=SERVICE)
    ).status_code == 403
    await add_programs(
        client,
        program("couch-to-5k", goals=["endurance"], activities=["running"]),
        program("barbell-basics", equipment=["barbell"], level="intermediate"),
        program("chair-yoga", goals=["mobility", "general_health"]),
    )
    again = await client.post("/v1/programs", json=program("chair-yoga"), headers=ADMIN)
    assert again.status_code == 409
    first = await client.get("/v1/programs?limit=2", headers=user)
    assert first.status_code == 200
    assert [p["program_id"] for p in first.json()["items"]] == ["barbell-basics", "chair-yoga"]
    cursor = first.json()["next_cursor"]
    rest = await client.get(f"/v1/programs?limit=2&cursor={cursor}", headers=user)
    assert [p["program_id"] for p in rest.json()["items"]] == ["couch-to-5k"]
    assert rest.json()["next_cursor"] is None
    mobility = await client.get("/v1/programs?goal=mobility", headers=user)
    assert [p["program_id"] for p in mobility.json()["items"]] == ["chair-yoga"]
    middle = await client.get("/v1/programs?level=intermediate", headers=user)
    assert [p["program_id"] for p in middle.json()["items"]] == ["barbell-basics"]

    one = await client.get("/v1/programs/chair-yoga", headers=user)
    assert one.status_code == 200 and one.json()["goals"] == ["general_health", "mobility"]
    replace = {k: v for k, v in program("x", days_per_week=5).items() if k != "program_id"}
    stale = await client.put(
        "/v1/programs/chair-yoga", json=replace, headers={**ADMIN, "If-Match": '"9"'}
    )
    assert stale.status_code == 412
    replaced = await client.put(
        "/v1/programs/chair-yoga", json=replace, headers={**ADMIN, "If-Match": one.headers["etag"]}
    )
    assert replaced.status_code == 200 and replaced.json()["days_per_week"] == 5
    assert (
        await client.put("/v1/programs/chair-yoga", json=replace, headers=user)
    ).status_code == 403
    assert (await client.delete("/v1/programs/chair-yoga", headers=user)).status_code == 403
    assert (await client.delete("/v1/programs/chair-yoga", headers=ADMIN)).status_code == 204
    assert (await client.delete("/v1/programs/chair-yoga", headers=ADMIN)).status_code == 204
    assert (await client.get("/v1/programs/chair-yoga", headers=user)).status_code == 404
    assert (await client.get("/v1/programs/Not_A_Slug", headers=user)).status_code == 422
    assert (await client.get("/v1/programs")).status_code == 401


async def test_programs_are_filtered_and_ranked_with_reasons(client: httpx.AsyncClient) -> None:
    await add_programs(
        client,
        program("bodyweight-basics", goals=["strength", "general_health"], days_per_week=3),
        program("barbell-strength", goals=["strength"], equipment=["barbell"]),
        program("dumbbell-strength", goals=["strength"], equipment=["dumbbells"], days_per_week=4),
        program("advanced-dumbbells", equipment=["dumbbells"], level="advanced"),
        program("intermediate-dumbbells", equipment=["dumbbells"], level="intermediate"),
        program("jump-training", goals=["sport"], loads=["knees", "ankles"]),
        program(
            "morning-yoga",
            goals=["mobility"],
            activities=["yoga"],
            session_minutes=20,
            days_per_week=5,
        ),
    )
    user = await make_user(client)
    me = bearer(user)
    mine = {
        "goals": ["strength"],
        "experience": "beginner",
        "days_per_week": 3,
        "session_minutes": 45,
        "equipment": ["dumbbells"],
        "limitations": ["knees"],
        "preferred_activities": ["yoga"],
    }
    await client.put(movement_url(user), json=mine, headers=me)
    answer = await client.get(f"/v1/profiles/{user}/programs", headers=me)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    ids = [item["program"]["program_id"] for item in items]
    # No barbell, not two levels up, nothing that loads the knees.
    assert set(ids) == {
        "bodyweight-basics",
        "dumbbell-strength",
        "intermediate-dumbbells",
        "morning-yoga",
    }
    assert ids[0] == "bodyweight-basics"  # goals, days, minutes and level all fit
    best = items[0]
    assert best["score"] == 40 + 20 + 20 + 10 + 0
    assert best["score"] == sum(r["points"] for r in best["reasons"])
    assert {r["factor"] for r in best["reasons"]} == {
        "goals",
        "days",
        "minutes",
        "level",
        "activities",
    }
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    dumbbells = next(i for i in items if i["program"]["program_id"] == "dumbbell-strength")
    days = next(r for r in dumbbells["reasons"] if r["factor"] == "days")
    assert days == {"factor": "days", "points": 15, "detail": "1 day a week more than your 3"}
    assert answer.json()["widened"] == []

    # Unknown fields widen the filter instead of failing.
    await client.put(movement_url(user), json={"goals": ["strength"]}, headers=me)
    widened = await client.get(f"/v1/profiles/{user}/programs", headers=me)
    assert len(widened.json()["items"]) == 7
    assert "equipment" in widened.json()["widened"] and "goals" not in widened.json()["widened"]
    other = await make_user(client)
    nothing = await client.get(f"/v1/profiles/{other}/programs", headers=bearer(other))
    assert nothing.status_code == 200 and len(nothing.json()["items"]) == 7
    assert (await client.get(f"/v1/profiles/{other}/programs", headers=me)).status_code == 404
    absent = uuid.uuid4()
    assert (await client.get(f"/v1/profiles/{absent}/programs", headers=ADMIN)).status_code == 404


async def test_the_sample_catalogue_loads_and_is_valid(app: FastAPI, tmp_path: Path) -> None:
    size = len(json.loads(SAMPLE_CATALOGUE.read_text()))
    env = {"PROFILESTORE_DATABASE_URL": app.state.settings.database_url}
    command = await asyncio.to_thread(
        CliRunner().invoke, cli.app, ["movement", "load-programs"], env=env
    )
    assert command.exit_code == 0, command.output
    assert f"loaded programs.json: {size} created, 0 updated, 0 unchanged" in command.output
    assert 25 <= size <= 40

    lines: list[str] = []
    settings, db = app.state.settings, app.state.db
    counts = await load_programs(settings, SAMPLE_CATALOGUE, echo=lines.append, db=db)
    assert counts == {"created": 0, "updated": 0, "unchanged": size}

    broken = json.loads(SAMPLE_CATALOGUE.read_text())
    broken[3]["level"] = "guru"
    del broken[5]["goals"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    with pytest.raises(ProblemError) as refused:
        await load_programs(settings, bad, echo=lines.append, db=db)
    fields = {error.field for error in refused.value.errors}
    assert {"3.level", "5.goals"} <= fields, fields
    refused_command = await asyncio.to_thread(
        CliRunner().invoke, cli.app, ["movement", "load-programs", str(bad)], env=env
    )
    assert refused_command.exit_code == 2
    assert "3.level" in refused_command.output


async def test_a_deleted_profile_takes_its_training_profile(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_user(client)
    await client.put(movement_url(user), json={"goals": ["sport"]}, headers=bearer(user))
    assert (await client.delete(f"/v1/profiles/{user}", headers=bearer(user))).status_code == 204
    assert (await client.get(movement_url(user), headers=ADMIN)).status_code == 404
    rows = [r.payload for r in await outbox_rows(app.state.db)]
    removed = [r["data"] for r in rows if r["type"].endswith("MovementProfileChanged")][-1]
    assert removed["profile"] is None
