"""Real HTTP servers on loopback inside the test process (uvicorn in a thread, its own event
loop): a profilestore app as a domain service, or a stub domain service that misbehaves on
demand (slow, down, refusing, answering garbage) for the hub's federation tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.serving import free_port


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """``app`` served over real HTTP on a free loopback port (lifespan run): its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"loopback-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the loopback server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class StubDomain:
    """A domain service's aggregate endpoint whose behaviour a test sets: ``mode`` is ``ok``
    (the ``sections`` asked for, each ``value``), ``sleep`` (ok after ``delay`` seconds),
    ``badjson``, ``nosection`` (200 without the section), ``missing`` (null and named in
    ``missing``), ``part-error`` (null and in ``errors`` with ``part_code``), or an HTTP
    status as text (``"500"``). ``calls`` keeps each request's headers and query."""

    mode: str = "ok"
    value: dict[str, Any] = field(default_factory=lambda: {"from": "stub"})
    delay: float = 0.0
    part_code: str = "unavailable"
    calls: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/users/{user_id}/profiles", self.profiles)])

    async def profiles(self, request: Request) -> Response:
        self.calls.append({"headers": dict(request.headers), "query": dict(request.query_params)})
        names = request.query_params.get("sections", "").split(",")
        user_id = request.path_params["user_id"]
        if self.mode == "sleep":
            await asyncio.sleep(self.delay)
        if self.mode.isdigit():
            problem = {"type": "about:blank", "title": "stub", "status": int(self.mode)}
            return _json(problem, int(self.mode), "application/problem+json")
        if self.mode == "badjson":
            return Response(b"<html>proxy error</html>", 200, media_type="application/json")
        body: dict[str, Any] = {"user_id": user_id, "missing": [], "errors": []}
        for name in names:
            if self.mode == "nosection":
                continue
            if self.mode == "missing":
                body[name] = None
                body["missing"].append(name)
            elif self.mode == "part-error":
                body[name] = None
                body["errors"].append({"domain": name, "code": self.part_code})
            else:
                body[name] = self.value
        return _json(body, 200)


def _json(body: Any, status: int, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status, media_type=media_type)
