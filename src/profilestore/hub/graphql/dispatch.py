"""GraphQL's way to the REST routes: in process through the app's router (the caller's
principal already verified by the request pipeline), or over HTTP to the service that serves
the domain (``PROFILESTORE_HUB_DOMAINS``), forwarding the caller's token.

An answer of 4xx/5xx becomes a ``GraphQLError`` whose ``extensions.code`` is the problem's
type (``not-found``, ``validation``, ...) with its field errors, so GraphQL and REST report
the same failure the same way."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from graphql import GraphQLError
from starlette.requests import Request

from profilestore.hub.remote import Forward, Remotes
from profilestore.platform.errors import TYPE_PREFIX as PROBLEM_BASE
from profilestore.platform.jsonutil import loads


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Dispatcher:
    """Calls routes on behalf of the GraphQL request ``request``: in process, or for a domain
    in ``remotes`` (``hub.remote.Remotes``) over its pooled client, through its circuit
    breaker, by ``deadline`` (the event loop's clock: the request's time budget)."""

    def __init__(self, request: Request, remotes: Remotes | None, deadline: float) -> None:
        self.request = request
        self.remote_domains = remotes.domains if remotes is not None else {}
        self._remotes = remotes
        self.deadline = deadline

    async def call(
        self,
        part: str,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        state: dict[str, Any] | None = None,
    ) -> Answer:
        query_string = urlencode({k: _text(v) for k, v in (query or {}).items() if v is not None})
        payload = _encoded(body) if body is not None else b""
        if part in self.remote_domains:
            return await self._remote(part, method, path, query_string, payload, headers or {})
        return await self._local(method, path, query_string, payload, headers or {}, state or {})

    async def _local(
        self,
        method: str,
        path: str,
        query_string: str,
        payload: bytes,
        headers: dict[str, str],
        state: dict[str, Any],
    ) -> Answer:
        outer = self.request.scope
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if payload:
            raw_headers.append((b"content-type", b"application/json"))
            raw_headers.append((b"content-length", str(len(payload)).encode()))
        scope = {
            "type": "http",
            "asgi": outer.get("asgi", {"version": "3.0"}),
            "http_version": "1.1",
            "method": method,
            "scheme": outer.get("scheme", "http"),
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query_string.encode(),
            "headers": raw_headers,
            "client": outer.get("client"),
            "server": outer.get("server"),
            "app": outer["app"],
            "state": {
                "principal": outer["state"]["principal"],
                "request_id": outer["state"].get("request_id"),
                **state,
            },
        }
        if "starlette.exception_handlers" in outer:
            scope["starlette.exception_handlers"] = outer["starlette.exception_handlers"]
        sent = {"body": payload}
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def receive() -> dict[str, Any]:
            body, sent["body"] = sent["body"], b""
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        async with AsyncExitStack() as stack:
            scope["fastapi_middleware_astack"] = stack
            await outer["app"].router(scope, receive, send)
        answer_headers = {k.decode().lower(): v.decode() for k, v in captured["headers"]}
        return _answer(captured["status"], captured["body"], answer_headers)

    async def _remote(
        self,
        part: str,
        method: str,
        path: str,
        query_string: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> Answer:
        assert self._remotes is not None
        domain = self.remote_domains[part]
        if not domain.breaker.allow():
            raise _failure("unavailable", part)
        forwarded = Forward.of(self.request).headers() | headers
        if payload:
            forwarded["content-type"] = "application/json"
        url = f"{domain.base}{path}" + (f"?{query_string}" if query_string else "")
        try:
            async with asyncio.timeout_at(self.deadline):
                response = await self._remotes.client.request(
                    method, url, content=payload, headers=forwarded
                )
        except (TimeoutError, httpx.TimeoutException):
            domain.breaker.failure()
            raise _failure("timeout", part) from None
        except httpx.HTTPError:
            domain.breaker.failure()
            raise _failure("unavailable", part) from None
        except asyncio.CancelledError:
            domain.breaker.abandon()
            raise
        if response.status_code >= 500:
            domain.breaker.failure()
        else:
            domain.breaker.success()
        return _answer(response.status_code, response.content, dict(response.headers))


def _failure(code: str, part: str) -> GraphQLError:
    detail = {"timeout": "did not answer in time", "unavailable": "is unavailable"}[code]
    return GraphQLError(f"The {part} service {detail}.", extensions={"code": code, "domain": part})


def _answer(status: int, raw: bytes, headers: dict[str, str]) -> Answer:
    try:
        body = loads(raw) if raw else None
    except ValueError:
        body = None
    return Answer(status, body, headers)


def raise_for_problem(answer: Answer) -> None:
    """Raise the GraphQL error that stands for a failed answer."""
    if answer.status < 400:
        return
    problem = answer.body if isinstance(answer.body, dict) else {}
    code = str(problem.get("type", "")).removeprefix(PROBLEM_BASE) or "unavailable"
    if answer.status >= 500 and not problem:
        code = "unavailable"
    extensions: dict[str, Any] = {"code": code, "status": answer.status}
    if problem.get("errors"):
        extensions["errors"] = problem["errors"]
    raise GraphQLError(str(problem.get("detail") or "The request failed."), extensions=extensions)


def _encoded(body: Any) -> bytes:
    """The body as a client would send it: ASCII escapes, so that a lone surrogate or a NaN
    reaches the route, which refuses it (422) as it refuses it from any client."""
    return json.dumps(body, ensure_ascii=True).encode()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
