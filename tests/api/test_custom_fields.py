"""Custom profile fields through the HTTP API and ``profilestore schema check``: writes checked
against the profile schema, stored values kept across schema changes, the OpenAPI document."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from sqlalchemy import select, update
from typer.testing import CliRunner

from profilestore import cli
from profilestore.app import create_app
from profilestore.domains.profiles.custom_fields import SchemaError
from profilestore.domains.profiles.models import Profile
from profilestore.platform.db import Database
from profilestore.settings import Settings
from tests.support import bearer, client_for

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}

FULL = """
fields:
  member_id:
    type: string
    max_length: 12
    pattern: "^M[0-9]+$"
    required: true
    visibility: public
  height_cm:
    type: integer
    min: 50
    max: 272
    unit: cm
    visibility: contacts
    description: Body height
  shoe_size:
    type: number
    min: 15
    max: 55
  sports:
    type: list
    enum: [run, swim, ride]
    max_items: 2
  birthday:
    type: date
"""
"""The schema before the change."""

NARROWER = """
fields:
  member_id:
    type: string
    pattern: "^M[0-9]+$"
    required: true
  height_cm:
    type: integer
    min: 100
    max: 272
"""
"""The schema after it: shoe_size, sports and birthday are no longer declared; height_cm
refuses what it took before."""


@pytest.fixture
def schemas(tmp_path: Path, settings: Settings) -> dict[str, Settings]:
    """The test's settings with each profile schema."""
    result = {}
    for name, text in {"full": FULL, "narrower": NARROWER}.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        result[name] = settings.model_copy(update={"profile_schema": path})
    return result


async def put(
    client: httpx.AsyncClient, user: uuid.UUID, fields: dict[str, Any], **body: Any
) -> httpx.Response:
    body = {"username": f"u{user.hex[:12]}", "fields": fields, **body}
    return await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))


async def patch(client: httpx.AsyncClient, user: uuid.UUID, body: Any) -> httpx.Response:
    return await client.patch(
        f"/v1/profiles/{user}", json=body, headers={**bearer(user), **MERGE_PATCH}
    )


async def stored_fields(settings: Settings, user: uuid.UUID) -> dict[str, Any]:
    """The custom values in the database, declared or not."""
    database = Database(settings)
    try:
        async with database.engine.connect() as connection:
            statement = select(Profile.fields).where(Profile.user_id == user)
            return dict((await connection.execute(statement)).scalar_one())
    finally:
        await database.dispose()


def errors_of(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(error["field"], error["code"]) for error in response.json()["errors"]]


async def test_put_stores_valid_values_and_the_owner_sees_them(
    schemas: dict[str, Settings],
) -> None:
    user = uuid.uuid4()
    fields = {"member_id": "M1", "height_cm": 180, "sports": ["run"], "birthday": "1990-05-01"}
    async with client_for(schemas["full"]) as client:
        created = await put(client, user, fields)
        assert created.status_code == 201, created.text
        assert created.json()["fields"] == fields
        me = await client.get("/v1/me", headers=bearer(user))
        assert me.json()["fields"] == fields
        replaced = await put(client, user, {"member_id": "M1", "shoe_size": 42.5})
        assert replaced.json()["fields"] == {"member_id": "M1", "shoe_size": 42.5}
    assert await stored_fields(schemas["full"], user) == {"member_id": "M1", "shoe_size": 42.5}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"member_id": "M1", "hat_size": 7}, [("body.fields.hat_size", "undeclared")]),
        ({"member_id": "X1"}, [("body.fields.member_id", "string_pattern_mismatch")]),
        ({"member_id": "M1", "height_cm": 300}, [("body.fields.height_cm", "less_than_equal")]),
        ({"member_id": "M1", "height_cm": "180"}, [("body.fields.height_cm", "int_type")]),
        ({"member_id": "M1", "sports": ["golf"]}, [("body.fields.sports.0", "literal_error")]),
        ({"member_id": "M1", "birthday": "1990-02-30"}, [("body.fields.birthday", "value_error")]),
        ({"height_cm": 180}, [("body.fields.member_id", "missing")]),
    ],
)
async def test_a_refused_value_is_named_and_nothing_is_created(
    schemas: dict[str, Settings], fields: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    user = uuid.uuid4()
    async with client_for(schemas["full"]) as client:
        response = await put(client, user, fields)
        assert errors_of(response) == expected
        assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/me", headers=bearer(user))).status_code == 404


async def test_the_message_names_the_rule(schemas: dict[str, Settings]) -> None:
    async with client_for(schemas["full"]) as client:
        response = await put(client, uuid.uuid4(), {"member_id": "M1", "height_cm": 10})
    assert "greater than or equal to 50" in response.json()["errors"][0]["message"]
    assert response.json()["errors"][0]["field"] == "body.fields.height_cm"


async def test_fields_must_be_an_object(schemas: dict[str, Settings]) -> None:
    async with client_for(schemas["full"]) as client:
        response = await put(client, uuid.uuid4(), ["member_id"])  # type: ignore[arg-type]
    assert errors_of(response) == [("body.fields", "dict_type")]


async def test_patch_merges_removes_and_refuses(schemas: dict[str, Settings]) -> None:
    user = uuid.uuid4()
    async with client_for(schemas["full"]) as client:
        await put(client, user, {"member_id": "M1", "height_cm": 180, "shoe_size": 42})
        merged = await patch(client, user, {"fields": {"height_cm": None, "sports": ["swim"]}})
        assert merged.status_code == 200, merged.text
        assert merged.json()["fields"] == {"member_id": "M1", "shoe_size": 42, "sports": ["swim"]}
        version = merged.json()["version"]
        for bad, expected in [
            ({"fields": {"shoe_size": 99}}, ("body.fields.shoe_size", "less_than_equal")),
            ({"fields": {"member_id": None}}, ("body.fields.member_id", "missing")),
            ({"fields": {"nope": 1}}, ("body.fields.nope", "undeclared")),
        ]:
            assert errors_of(await patch(client, user, bad)) == [expected]
        me = (await client.get("/v1/me", headers=bearer(user))).json()
        assert (me["version"], me["fields"]) == (version, merged.json()["fields"])


async def test_a_schema_change_never_loses_stored_values(schemas: dict[str, Settings]) -> None:
    user = uuid.uuid4()
    before = {"member_id": "M1", "height_cm": 60, "shoe_size": 42, "sports": ["run"]}
    async with client_for(schemas["full"]) as client:
        assert (await put(client, user, before)).status_code == 201
    async with client_for(schemas["narrower"]) as client:
        patched = await patch(client, user, {"bio": "still here"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["fields"] == {"member_id": "M1", "height_cm": 60}
        assert errors_of(await patch(client, user, {"fields": {"height_cm": 61}})) == [
            ("body.fields.height_cm", "greater_than_equal")
        ]
        replaced = await put(client, user, {"member_id": "M2"}, bio="replaced")
        assert replaced.json()["fields"] == {"member_id": "M2"}
        refused = await put(client, user, {"member_id": "M2", "shoe_size": 43})
        assert errors_of(refused) == [("body.fields.shoe_size", "undeclared")]
    kept = {"member_id": "M2", "shoe_size": 42, "sports": ["run"]}
    assert await stored_fields(schemas["full"], user) == kept
    async with client_for(schemas["full"]) as client:
        me = (await client.get("/v1/me", headers=bearer(user))).json()
        assert me["fields"] == kept


async def test_the_owner_sees_only_declared_fields(schemas: dict[str, Settings]) -> None:
    """Values of fields the schema no longer declares are kept but not shown, on every read
    of the whole profile (the read path filters with ``ProfileSchema.shown``)."""
    user = uuid.uuid4()
    async with client_for(schemas["full"]) as client:
        await put(client, user, {"member_id": "M1", "height_cm": 120, "shoe_size": 42})
    async with client_for(schemas["narrower"]) as client:
        me = (await client.get("/v1/me", headers=bearer(user))).json()
        assert me["fields"] == {"member_id": "M1", "height_cm": 120}
        by_id = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
        assert by_id.json()["fields"] == {"member_id": "M1", "height_cm": 120}


async def test_openapi_shows_the_declared_fields(schemas: dict[str, Settings]) -> None:
    async with client_for(schemas["full"]) as client:
        document = (await client.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    written = components["ProfileWrite"]["properties"]["fields"]
    assert written["additionalProperties"] is False
    assert written["required"] == ["member_id"]
    height = written["properties"]["height_cm"]["anyOf"][0]
    assert (height["type"], height["minimum"], height["maximum"]) == ("integer", 50, 272)
    assert "Body height" in height["description"]
    assert "Unit: cm." in height["description"] and "Visible to: contacts." in height["description"]
    sports = written["properties"]["sports"]["anyOf"][0]
    assert (sports["maxItems"], sports["items"]["enum"]) == (2, ["run", "swim", "ride"])
    shown = components["Profile"]["properties"]["fields"]
    assert shown["properties"]["member_id"]["pattern"] == "^M[0-9]+$"
    assert "required" not in shown


async def test_without_a_schema_no_custom_field_is_taken(settings: Settings) -> None:
    async with client_for(settings) as client:
        user = uuid.uuid4()
        assert errors_of(await put(client, user, {"x": 1})) == [("body.fields.x", "undeclared")]
        created = await put(client, user, {})
        assert created.status_code == 201 and created.json()["fields"] == {}


def test_the_app_refuses_a_bad_schema_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fields:\n  height_cm:\n    type: integer\n    max_length: 3\n")
    with pytest.raises(SchemaError) as caught:
        create_app(settings.model_copy(update={"profile_schema": path}))
    assert str(caught.value) == (
        f"profile schema {path}: field 'height_cm': max_length: not a rule of the integer type"
    )


# --- profilestore schema check ---------------------------------------------------------------


async def run_check(settings: Settings, *args: str) -> Result:
    """``profilestore schema check`` in a thread (it runs its own event loop)."""
    environment = {
        "PROFILESTORE_DATABASE_URL": settings.effective_database_url,
        "PROFILESTORE_DATA_DIR": str(settings.data_dir),
        "PROFILESTORE_LOG_LEVEL": "WARNING",
    }
    command = ["schema", "check", *args]
    return await asyncio.to_thread(CliRunner().invoke, cli.app, command, env=environment)


async def test_schema_check_is_clean_when_values_fit(schemas: dict[str, Settings]) -> None:
    async with client_for(schemas["full"]) as client:
        await put(client, uuid.uuid4(), {"member_id": "M1", "height_cm": 180})
    result = await run_check(schemas["full"], str(schemas["full"].profile_schema))
    assert result.exit_code == 0, result.output
    assert "checked 1 profile(s): clean" in result.output


async def test_schema_check_reports_what_a_change_left(schemas: dict[str, Settings]) -> None:
    users = [uuid.uuid4() for _ in range(3)]
    async with client_for(schemas["full"]) as client:
        await put(client, users[0], {"member_id": "M1", "height_cm": 60, "shoe_size": 40})
        await put(client, users[1], {"member_id": "M2", "shoe_size": 41, "sports": ["run"]})
        await put(client, users[2], {"member_id": "M3", "height_cm": 190})
    database = Database(schemas["full"])
    try:
        async with database.engine.begin() as connection:
            values = {"height_cm": 190}  # as written before member_id was required
            statement = update(Profile).where(Profile.user_id == users[2]).values(fields=values)
            await connection.execute(statement)
    finally:
        await database.dispose()
    result = await run_check(schemas["full"], str(schemas["narrower"].profile_schema))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "undeclared: shoe_size: 2 profile(s) keep a value the schema does not declare" in lines
    assert "undeclared: sports: 1 profile(s) keep a value the schema does not declare" in lines
    invalid = "invalid: height_cm: 1 profile(s): Input should be greater than or equal to 100"
    assert f"{invalid} (e.g. {users[0]})" in lines
    assert f"missing: member_id: 1 profile(s) without this required field (e.g. {users[2]})" in (
        lines
    )
    assert lines[-1] == "checked 3 profile(s): problems found"


async def test_schema_check_refuses_a_bad_schema_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fields:\n  Height:\n    type: integer\n")
    result = await run_check(settings, str(path))
    assert result.exit_code == 2
    assert f"profile schema {path}: field 'Height': a name is" in result.output


async def test_schema_check_needs_a_schema(settings: Settings) -> None:
    result = await run_check(settings)
    assert result.exit_code == 2
    assert "PROFILESTORE_PROFILE_SCHEMA" in result.output


def test_serve_refuses_a_bad_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fields:\n  sports:\n    type: list\n")
    environment = {
        "PROFILESTORE_PROFILE_SCHEMA": str(path),
        "PROFILESTORE_DATA_DIR": str(tmp_path),
        "PROFILESTORE_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(cli.app, ["serve", "--no-migrate"], env=environment)
    assert result.exit_code == 2
    assert f"profile schema {path}: field 'sports': enum: a list field needs" in result.output
