"""The authorization matrix, built from the app's own route table: a route added later is
covered without editing this test (a new request body model needs one example below)."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from PIL import Image

from profilestore.app import route_access
from profilestore.domains.registry import DOMAINS
from profilestore.platform import registry
from tests.support import ADMIN, SERVICE, bearer

EXAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "patch": {"bio": "pwned"},
    **{name: body for domain in DOMAINS for name, body in domain.example_bodies.items()},
}
READ_METHODS = {"GET"}


def api_routes(app: FastAPI) -> list[tuple[APIRoute, str]]:
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path_format.startswith("/v1/")]
    return [(route, method) for route in routes for method in sorted(route.methods)]


def fill(path: str, values: dict[str, str]) -> str:
    """The path with ``values`` filled in; any other id is a fixed one per parameter name, so
    that two walks of the route table call the same paths."""
    return re.sub(
        r"\{(\w+)\}",
        lambda m: values.get(m.group(1), str(uuid.uuid5(uuid.NAMESPACE_URL, m.group(1)))),
        path,
    )


def body_for(route: APIRoute) -> dict[str, Any] | None:
    if route.body_field is None:
        return None
    annotation = route.body_field.field_info.annotation
    candidates = [a for a in (annotation, *get_args(annotation)) if a is not type(None)]
    name = next((getattr(a, "__name__", "") for a in candidates if getattr(a, "__name__", "")), "")
    key = name if name in EXAMPLE_BODIES else ("patch" if name == "dict" else None)
    if key is None:
        pytest.fail(
            f"add an example body for {name} ({route.path_format}) to its domain's descriptor"
        )
    return EXAMPLE_BODIES[key]


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def request_body(route: APIRoute, headers: dict[str, str]) -> dict[str, Any]:
    """httpx arguments carrying a valid body for ``route``: its example JSON, or an image for
    a route that takes an upload (``Domain.body_media_types``)."""
    if route.path_format in registry.body_media_types():
        return {"content": tiny_png(), "headers": {**headers, "Content-Type": "image/png"}}
    return {"json": body_for(route), "headers": headers}


async def call(
    client: httpx.AsyncClient, route: APIRoute, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(method, path, **request_body(route, headers))


@pytest.fixture
async def victim(client: httpx.AsyncClient) -> dict[str, str]:
    """User B with a profile and an address; user A exists too."""
    owner, attacker = uuid.uuid4(), uuid.uuid4()
    for user, name in ((owner, "victim_b"), (attacker, "attacker_a")):
        response = await client.put(
            f"/v1/profiles/{user}", json={"username": name, "bio": name}, headers=bearer(user)
        )
        assert response.status_code == 201
    address = await client.post(
        f"/v1/profiles/{owner}/addresses",
        json={"kind": "shipping", "lines": ["1 Main St"], "city": "Berlin", "country": "DE"},
        headers=bearer(owner),
    )
    assert address.status_code == 201
    return {"user_id": str(owner), "address_id": address.json()["id"], "attacker": str(attacker)}


async def snapshot(
    client: httpx.AsyncClient, app: FastAPI, values: dict[str, str]
) -> dict[str, Any]:
    """Everything B has, read as an admin through every GET route."""
    state = {}
    for route, method in api_routes(app):
        if method in READ_METHODS and "{user_id}" in route.path_format:
            path = fill(route.path_format, values)
            response = await client.get(path, headers=ADMIN)
            body = response.content if response.is_success else b""  # errors carry request ids
            state[path] = (response.status_code, re.sub(rb'"exported_at":"[^"]*"', b"", body))
    return state


def test_every_api_route_declares_an_access_rule(app: FastAPI) -> None:
    routes = api_routes(app)
    assert len(routes) >= 10
    assert all(route_access(route) is not None for route, _ in routes)


async def test_no_token_is_401_everywhere(
    client: httpx.AsyncClient, app: FastAPI, victim: dict[str, str]
) -> None:
    for route, method in api_routes(app):
        path = fill(route.path_format, victim)
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}):
            response = await call(client, route, method, path, headers)
            assert response.status_code == 401, (method, route.path_format, headers, response.text)
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert response.headers["content-type"] == "application/problem+json"


async def test_other_users_cannot_reach_private_resources(
    client: httpx.AsyncClient, app: FastAPI, victim: dict[str, str]
) -> None:
    before = await snapshot(client, app, victim)
    attacker = bearer(victim["attacker"])
    checked = 0
    for route, method in api_routes(app):
        rule = route_access(route)
        assert rule is not None
        if rule.anyone or "{user_id}" not in route.path_format:
            continue
        path = fill(route.path_format, victim)
        response = await call(client, route, method, path, attacker)
        assert response.status_code == rule.denial, (method, route.path_format, response.text)
        if method not in READ_METHODS and "service" not in rule.roles:
            refused = await call(client, route, method, path, SERVICE)
            assert refused.status_code == rule.denial, ("service", method, route.path_format)
        checked += 1
    assert checked >= 8
    assert await snapshot(client, app, victim) == before


async def test_service_and_admin_only_routes_refuse_users(
    client: httpx.AsyncClient, app: FastAPI, victim: dict[str, str]
) -> None:
    for route, method in api_routes(app):
        rule = route_access(route)
        assert rule is not None
        if rule.anyone or rule.owner:
            continue
        path = fill(route.path_format, victim)
        response = await call(client, route, method, path, bearer(uuid.uuid4()))
        assert response.status_code == rule.denial, (method, route.path_format)
        if "service" not in rule.roles:
            refused = await call(client, route, method, path, SERVICE)
            assert refused.status_code == rule.denial, ("service", method, route.path_format)


async def test_public_reads_never_show_private_fields(
    client: httpx.AsyncClient, victim: dict[str, str]
) -> None:
    attacker = bearer(victim["attacker"])
    single = (await client.get(f"/v1/profiles/{victim['user_id']}", headers=attacker)).json()
    batch = await client.get("/v1/profiles", params={"ids": victim["user_id"]}, headers=attacker)
    by_name = await client.get("/v1/profiles", params={"username": "victim_b"}, headers=attacker)
    private = {"preferences", "locale", "timezone", "last_seen", "addresses"}
    for view in (single, batch.json()["items"][0], by_name.json()["items"][0]):
        assert view["user_id"] == victim["user_id"]
        assert not private & set(view)


def test_a_route_without_access_rule_refuses_to_start() -> None:
    from profilestore.app import declare_access_rules

    unguarded = FastAPI()

    @unguarded.get("/v1/open")
    async def open_route() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="declares no access rule"):
        declare_access_rules(unguarded)
