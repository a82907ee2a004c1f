"""Hostile input through GraphQL, generated: every field of every mutation's input (and of
each createUserProfile part) gets the hostile values of the REST test, as variables, on
SQLite and PostgreSQL. The answer is never a 5xx nor an `internal-error`, and a refused
mutation stores nothing. Ten examples a field: the routes' own validation gets 25 in
test_hostile_inputs.py; here the class under test is GraphQL's way to them (coercion,
encoding: a lone surrogate once broke it)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings

from profilestore.domains.registry import DOMAINS
from tests.security.test_hostile_inputs import HOSTILE_SETTINGS, _row_counts, hostile_values
from tests.support import bearer

CREATE = """mutation C($input: CreateUserProfileInput!) {
  createUserProfile(input: $input) { steps { step status } } }"""
VALID_PARTS: dict[str, dict[str, Any]] = {
    "profile": {"username": "hostile"},
    "body": {"heightCm": 170.0},
    "eating": {"diet": "vegan"},
    "movement": {"daysPerWeek": 3},
}
VALID_INPUTS: dict[str, dict[str, Any]] = {
    "update_profile": {"bio": "hi"},
    "set_goal": {"goalType": "maintenance"},
    "log_calories": {"kind": "consumed", "kcal": 100.0, "at": "2026-01-01T12:00:00Z"},
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _cases() -> list[tuple[str, str, str]]:
    """(operation, part or input, field) for every input field GraphQL takes."""
    found = []
    for domain in DOMAINS:
        graph = domain.graphql
        if graph is None:
            continue
        for step in graph.onboarding:
            for name, info in step.input_model.model_fields.items():
                found.append(("create", step.name, camel(info.alias or name)))
        for mutation in graph.mutations:
            for name, info in mutation.input_model.model_fields.items():
                found.append((mutation.name, mutation.name, camel(info.alias or name)))
    return found


CASES = _cases()


def _operation(operation: str, part: str, field: str, value: Any, user: str) -> dict[str, Any]:
    if operation == "create":
        parts = {name: dict(values) for name, values in VALID_PARTS.items()}
        parts["profile"]["username"] = f"h{user[:8]}"
        parts[part] = {**parts[part], field: value}
        return {"query": CREATE, "variables": {"input": parts}}
    name = camel(operation)
    kind = {"update_profile": "ProfileWrite", "set_goal": "GoalWrite"}.get(
        operation, "CalorieWrite"
    )
    query = (
        f"mutation M($id: UUID!, $input: {kind}Input!) "
        f"{{ {name}(userId: $id, input: $input) {{ __typename }} }}"
    )
    given = {**VALID_INPUTS[operation], field: value}
    return {"query": query, "variables": {"id": user, "input": given}}


@pytest.mark.parametrize(("operation", "part", "field"), CASES)
@settings(HOSTILE_SETTINGS, max_examples=10)
@given(value=hostile_values)
async def test_hostile_graphql_inputs(
    client: httpx.AsyncClient, app: FastAPI, operation: str, part: str, field: str, value: Any
) -> None:
    user = "7d0c3a52-1c39-4c0e-9a0e-4b8d8f1f3a11"
    payload = _operation(operation, part, field, value, user)
    before = await _row_counts(app)
    response = await client.post(
        "/graphql",
        content=json.dumps(payload, ensure_ascii=True, allow_nan=True).encode(),
        headers={**bearer(user), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    body = response.json()
    for error in body.get("errors") or []:
        if "path" in error:  # raised while resolving, not a refusal of the document itself
            code = (error.get("extensions") or {}).get("code")
            assert code not in (None, "internal-error", "unavailable"), body
    if response.status_code >= 400 or (body.get("errors") and not body.get("data")):
        assert await _row_counts(app) == before, (payload, body)
