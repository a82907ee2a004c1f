"""Request ids, the one JSON log line per request (and what it must never hold), OpenAPI."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute

from profilestore.platform import http as pipeline
from profilestore.platform.observability import configure_logging
from tests.support import ADMIN, bearer

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> LogLines:
    """The access log lines written while the test runs, parsed, through the real processors."""
    output = io.BytesIO()
    configure_logging("INFO")
    structlog.configure(logger_factory=structlog.BytesLoggerFactory(output))
    monkeypatch.setattr(pipeline, "access_log", structlog.get_logger("profilestore.access"))

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in output.getvalue().splitlines()]

    yield lines
    configure_logging(app.state.settings.log_level)


async def test_request_id_is_honoured_generated_or_replaced(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "abc-123.trace:1"})
    assert given.headers["x-request-id"] == "abc-123.trace:1"
    generated = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    for unsafe in ("has spaces", "x" * 200, 'quote"d', "new\\nline"):
        replaced = await client.get("/health", headers={"X-Request-ID": unsafe})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), unsafe


async def test_one_json_line_per_request_with_its_fields(
    client: httpx.AsyncClient, log_lines: LogLines
) -> None:
    user = uuid.uuid4()
    await client.put(f"/v1/profiles/{user}", json={"username": "loggy"}, headers=bearer(user))
    await client.get(f"/v1/profiles/{user}", headers={**bearer(user), "X-Request-ID": "r-1"})
    await client.get("/v1/profiles/not-a-uuid", headers=bearer(user))
    lines = [line for line in log_lines() if line.get("event") == "request"]
    assert len(lines) == 3
    read = lines[1]
    assert read["request_id"] == "r-1"
    assert read["method"] == "GET"
    assert read["route"] == "/v1/profiles/{user_id}"  # the template, never the id itself
    assert read["status"] == 200
    assert read["user"] == str(user)
    assert isinstance(read["duration_ms"], float) and read["duration_ms"] >= 0
    assert read["level"] == "info" and read["timestamp"]
    assert [line["status"] for line in lines] == [201, 200, 422]


async def test_logs_hold_no_tokens_and_no_private_values(
    client: httpx.AsyncClient, log_lines: LogLines
) -> None:
    user = uuid.uuid4()
    headers = bearer(user)
    secret_values = {
        "timezone": "Pacific/Chatham",
        "locale": "mi-NZ",
        "preferences": {"diagnosis": "private-medical-note"},
    }
    body = {"username": "privacy", **secret_values}
    await client.put(f"/v1/profiles/{user}", json=body, headers=headers)
    await client.patch(f"/v1/profiles/{user}", json={"bio": "hello"}, headers=headers)
    await client.post(
        f"/v1/profiles/{user}/addresses",
        json={"kind": "shipping", "lines": ["7 Secret Lane"], "city": "Hidden", "country": "NZ"},
        headers=headers,
    )
    await client.put(f"/v1/profiles/{user}", json={"username": "x"}, headers=headers)  # 422
    text = "\n".join(json.dumps(line) for line in log_lines())
    assert text
    raw_token = headers["Authorization"].removeprefix("Bearer ")
    for needle in (
        raw_token,
        raw_token.split(".")[2],
        "Pacific/Chatham",
        "private-medical-note",
        "7 Secret Lane",
        "mi-NZ",
    ):
        assert needle not in text, needle


async def test_openapi_describes_every_route_with_its_rule_and_errors(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "Problem" in schema["components"]["schemas"]
    api_routes = [
        r for r in app.routes if isinstance(r, APIRoute) and r.path_format.startswith("/v1")
    ]
    assert api_routes
    for route in api_routes:
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            where = f"{method} {route.path_format}"
            assert operation["x-access"], where
            assert operation["security"] == [{"bearerAuth": []}], where
            unauthorized = operation["responses"]["401"]
            assert "application/problem+json" in unauthorized["content"], where
            assert operation["summary"], where


async def test_docs_ui_is_served(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get(f"/v1/profiles/{uuid.uuid4()}", headers=ADMIN)
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/profiles/{user_id}"' in metrics
    assert "profilestore_http_request_duration_seconds_bucket" in metrics
