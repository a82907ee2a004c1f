"""Fast reads: the hottest GET routes answered by the request pipeline, after authentication
and rate limiting but before the framework's routing, middleware and dependency solving (most
of the CPU of a cached read, measured in bench/README.md).

A fast read answers only the plain success cases, with exactly the route's answer (the same
body, ETag and 304), through the same cache functions the route uses; anything else (a
missing or hidden resource, an unusual request, any exception) returns None and the request
goes through the framework as usual, which gives the error its proper answer. So the route
stays the one definition of the behaviour, and a test compares both on every case
(tests/api/test_fast_reads.py)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from profilestore.platform.auth import Principal

FastHandler = Callable[
    [Any, dict[str, Any], Principal, dict[str, str], dict[bytes, bytes]],
    Awaitable[Response | None],
]
"""``(app state, request state, principal, path parameters, request headers)`` → the answer,
or None."""


@dataclass(frozen=True)
class FastRead:
    route_path: str
    """The route's template (``/v1/profiles/{user_id}``), for logs and metrics."""
    handler: FastHandler
    pattern: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        return self.pattern if self.pattern is not None else template_pattern(self.route_path)


def template_pattern(route_path: str) -> re.Pattern[str]:
    """A regex matching the paths of a route template (``/v1/profiles/{user_id}``)."""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route_path))
    return re.compile(f"^{regex}$")


class FastReads:
    """The registered fast reads, matched by path (GET without a query string only)."""

    def __init__(self, reads: tuple[FastRead, ...]) -> None:
        self._reads = [(read.compiled(), read) for read in reads]

    def match(self, scope: MutableMapping[str, Any]) -> tuple[FastRead, dict[str, str]] | None:
        if scope["method"] != "GET" or scope.get("query_string"):
            return None
        path = scope["path"]
        for pattern, read in self._reads:
            found = pattern.match(path)
            if found is not None:
                return read, found.groupdict()
        return None

    def __bool__(self) -> bool:
        return bool(self._reads)
