"""A first round trip through the API on both backends."""

from __future__ import annotations

import inspect
import uuid

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from profilestore.app import create_app
from profilestore.settings import Settings
from tests.support import bearer


async def test_put_then_get_profile(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    created = await client.put(
        f"/v1/profiles/{user}", json={"username": "Alice_1"}, headers=bearer(user)
    )
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "alice_1"
    read = await client.get(f"/v1/profiles/{user}", headers=bearer(user))
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert read.json()["user_id"] == str(user)


def test_no_dependency_runs_in_a_worker_thread(app: FastAPI) -> None:
    """FastAPI runs a plain ``def`` dependency or endpoint in a thread pool: a thread hop on
    every request. Every callable the route table solves must be ``async``."""

    def sync_callables(dependant: Dependant) -> list[str]:
        found = []
        call = dependant.call
        if call is not None:
            target = call if inspect.isroutine(call) else type(call).__call__
            if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
                found.append(getattr(call, "__qualname__", repr(call)))
        for dependency in dependant.dependencies:
            found += sync_callables(dependency)
        return found

    offenders = {
        route.path_format: names
        for route in app.routes
        if isinstance(route, APIRoute) and (names := sync_callables(route.dependant))
    }
    assert offenders == {}


def test_building_apps_again_does_not_wrap_shared_routes_again(settings: Settings) -> None:
    """Routers are module objects shared by every app built in a process (tests, workers):
    the start-up passes over their routes must not pile up on each build, or a request
    recurses once per app ever built."""

    def depth(route: APIRoute) -> int:
        layers, inner = 0, route.app
        while hasattr(inner, "parameters") and hasattr(inner, "app"):
            layers, inner = layers + 1, inner.app
        return layers

    def api_route(app: FastAPI) -> APIRoute:
        return next(
            r for r in app.routes if isinstance(r, APIRoute) and r.path == "/v1/profiles/{user_id}"
        )

    first = api_route(create_app(settings))
    for _ in range(3):
        again = api_route(create_app(settings))
    assert again is first and depth(again) == 1
