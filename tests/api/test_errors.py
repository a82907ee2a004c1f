"""Every error status answers RFC 9457 problem+json with ``status`` equal to the HTTP status,
and changes nothing: 400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 428, 500, 503."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from profilestore.settings import Settings
from tests.support import ADMIN, TEST_SECRET, bearer, client_for, token

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:profilestore:problem:")
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def create(client: httpx.AsyncClient, user: uuid.UUID) -> httpx.Response:
    body = {"username": f"u{user.hex[:12]}", "timezone": "Europe/Paris"}
    response = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert response.status_code == 201, response.text
    return response


async def unchanged(client: httpx.AsyncClient, user: uuid.UUID, before: httpx.Response) -> None:
    after = await client.get(f"/v1/profiles/{user}", headers=ADMIN)
    assert after.json() == before.json()


async def test_400_malformed_json(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    created = await create(client, user)
    response = await client.put(
        f"/v1/profiles/{user}",
        content=b'{"username": ',
        headers={**bearer(user), "Content-Type": "application/json"},
    )
    assert_problem(response, 400)
    await unchanged(client, user, created)


@pytest.mark.parametrize(
    "credentials",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer not.a.jwt",
        "expired",
        "wrong-secret",
        "alg-none",
    ],
)
async def test_401_with_www_authenticate(
    client: httpx.AsyncClient, credentials: str | None
) -> None:
    user = uuid.uuid4()
    tokens = {
        "expired": token(user, ttl=-3600),
        "wrong-secret": token(user, secret=TEST_SECRET + "-other"),
        "alg-none": jwt.encode({"sub": str(user), "exp": 4_102_444_800}, None, algorithm="none"),
    }
    headers = {}
    if credentials is not None:
        value = tokens.get(credentials)
        headers["Authorization"] = f"Bearer {value}" if value else credentials
    response = await client.get(f"/v1/profiles/{user}", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_403_and_404(client: httpx.AsyncClient) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    created = await create(client, owner)
    refused = await client.patch(
        f"/v1/profiles/{owner}", json={"bio": "mine now"}, headers=bearer(other)
    )
    assert_problem(refused, 403)
    await unchanged(client, owner, created)
    assert_problem(await client.get(f"/v1/profiles/{uuid.uuid4()}", headers=ADMIN), 404)
    assert_problem(await client.get("/v1/no-such-route", headers=ADMIN), 404)


async def test_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/me", json={}, headers=ADMIN)
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_409_username_taken(client: httpx.AsyncClient) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await create(client, first)
    taken = await client.put(
        f"/v1/profiles/{second}", json={"username": f"U{first.hex[:12]}"}, headers=bearer(second)
    )
    assert_problem(taken, 409)
    assert_problem(await client.get(f"/v1/profiles/{second}", headers=ADMIN), 404)


async def test_413_by_length_and_by_chunked_stream(app: FastAPI) -> None:
    limit = app.state.settings.max_body_bytes
    user = uuid.uuid4()
    big = b'{"username": "abc", "bio": "' + b"x" * limit + b'"}'
    headers = {**bearer(user), "Content-Type": "application/json"}

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        sized = await client.put(f"/v1/profiles/{user}", content=big, headers=headers)
        assert_problem(sized, 413)
        streamed = await client.put(f"/v1/profiles/{user}", content=chunks(), headers=headers)
        assert "content-length" not in streamed.request.headers
        assert_problem(streamed, 413)
        assert_problem(await client.get(f"/v1/profiles/{user}", headers=ADMIN), 404)


async def test_415_not_json(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    response = await client.put(
        f"/v1/profiles/{user}",
        content=b"username=abc",
        headers={**bearer(user), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 415)
    assert_problem(await client.get(f"/v1/profiles/{user}", headers=ADMIN), 404)


async def test_422_lists_every_field_error(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    response = await client.put(
        f"/v1/profiles/{user}",
        json={"username": "no spaces", "timezone": "Mars/Olympus", "locale": "??"},
        headers=bearer(user),
    )
    body = assert_problem(response, 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"body.username", "body.timezone", "body.locale"} <= fields
    assert all(error["message"] and error["code"] for error in body["errors"])
    assert_problem(await client.get("/v1/profiles/not-a-uuid", headers=ADMIN), 422)


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"require_if_match": True})) as client:
        yield client


async def test_428_when_if_match_is_required(strict_client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    created = await create(strict_client, user)  # creating needs no If-Match
    tag = created.headers["etag"]
    me = bearer(user)
    assert_problem(
        await strict_client.patch(f"/v1/profiles/{user}", json={"bio": "b"}, headers=me), 428
    )
    body = {"username": f"u{user.hex[:12]}"}
    assert_problem(await strict_client.put(f"/v1/profiles/{user}", json=body, headers=me), 428)
    assert_problem(await strict_client.delete(f"/v1/profiles/{user}", headers=me), 428)
    await unchanged(strict_client, user, created)
    patched = await strict_client.patch(
        f"/v1/profiles/{user}", json={"bio": "b"}, headers={**me, "If-Match": tag}
    )
    assert patched.status_code == 200
    address = {"kind": "billing", "lines": ["1 Rue X"], "city": "Paris", "country": "FR"}
    added = await strict_client.post(f"/v1/profiles/{user}/addresses", json=address, headers=me)
    assert added.status_code == 201
    url = added.headers["location"]
    assert_problem(await strict_client.put(url, json=address, headers=me), 428)
    assert_problem(await strict_client.delete(url, headers=me), 428)
    gone = await strict_client.delete(url, headers={**me, "If-Match": added.headers["etag"]})
    assert gone.status_code == 204
    final = await strict_client.delete(
        f"/v1/profiles/{user}", headers={**me, "If-Match": patched.headers["etag"]}
    )
    assert final.status_code == 204


async def test_500_hides_internals_and_carries_the_request_id(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    app.add_api_route("/explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/explode", headers={"X-Request-ID": "trace-500"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "trace-500"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


async def test_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        jwt_secret=TEST_SECRET,
        data_dir=tmp_path,
        database_timeout_seconds=2,
    )
    user = uuid.uuid4()
    async with client_for(settings) as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/health/ready")
        assert_problem(ready, 503)
        assert "database" in ready.json()["detail"]
        read = await client.get(f"/v1/profiles/{user}", headers=ADMIN)
        assert_problem(read, 503)
        assert read.headers["retry-after"]
        written = await client.put(
            f"/v1/profiles/{user}", json={"username": "abc"}, headers=bearer(user)
        )
        assert_problem(written, 503)


async def test_503_when_the_jwks_cannot_be_loaded(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        jwt_jwks_url="http://127.0.0.1:1/.well-known/jwks.json",
        jwt_algorithms=["RS256"],
        data_dir=tmp_path,
    )
    header = json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode()
    forged = b".".join(
        base64.urlsafe_b64encode(part).rstrip(b"=") for part in (header, b'{"sub": "x"}', b"sig")
    ).decode()
    async with client_for(settings) as client:
        response = await client.get(
            f"/v1/profiles/{uuid.uuid4()}", headers={"Authorization": f"Bearer {forged}"}
        )
    assert_problem(response, 503)


async def test_unknown_query_parameters_are_refused(client: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    await create(client, user)
    typo = await client.get(f"/v1/profiles/{user}/contacts", params={"limt": "5"}, headers=ADMIN)
    body = assert_problem(typo, 422)
    assert [error["field"] for error in body["errors"]] == ["query.limt"]
    assert "limit" in body["errors"][0]["message"]
    fine = await client.get(f"/v1/profiles/{user}/contacts", params={"limit": "5"}, headers=ADMIN)
    assert fine.status_code == 200
    assert (await client.get(f"/v1/profiles/{user}?x=1", headers=ADMIN)).status_code == 422
    twice = await client.get("/v1/profiles?username=ab&username=cd", headers=ADMIN)
    assert [error["code"] for error in assert_problem(twice, 422)["errors"]] == ["repeated"]


async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v1/profiles/{uuid.uuid4()}", json={}, headers=ADMIN)
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
