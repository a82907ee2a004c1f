"""Fast reads of the media domain (``platform.fastpath``): the plain reads a player and a home
screen make most, ``GET .../continue-watching``, ``.../watchlist`` and ``.../resume/{video_id}``
without a query string (the account's own viewer, the default page), through the same cached
functions as their routes. A caller the route would refuse, an absent resource or any failure
is left to the route, which answers it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.responses import Response

from profilestore.domains.media.api import watchlist_body
from profilestore.domains.media.cached import DEFAULT_LIMIT
from profilestore.domains.media.history_api import continue_watching_body, resume_body
from profilestore.domains.media.params import DEFAULT
from profilestore.platform.auth import Principal
from profilestore.platform.fastpath import FastHandler, FastRead
from profilestore.platform.http import CACHE_RESULT

log = structlog.get_logger("profilestore.fastpath")


def _owner_of(principal: Principal, params: dict[str, str]) -> uuid.UUID | None:
    """The account named by the path, if the caller may read its media (as the routes' rule:
    the account itself, an admin or a service)."""
    try:
        user_id = uuid.UUID(params["user_id"])
    except ValueError:
        return None
    if principal.user_id == user_id or principal.is_admin or principal.is_service:
        return user_id
    return None


BodyReader = Callable[[Any, uuid.UUID, dict[str, str]], Awaitable[tuple[bytes | None, bool]]]
"""``(app state, account, path parameters)`` → the encoded answer (None: absent), and whether
the cache answered."""


def fast_read(read: BodyReader) -> FastHandler:
    """A fast-read handler: the caller's access as the routes check it, then ``read``; None
    (to the route) for anything but an answer."""

    async def handler(
        app_state: Any,
        state: dict[str, Any],
        principal: Principal,
        params: dict[str, str],
        headers: dict[bytes, bytes],
    ) -> Response | None:
        user_id = _owner_of(principal, params)
        if user_id is None:
            return None
        try:
            body, hit = await read(app_state, user_id, params)
        except Exception as exc:  # the route answers it (a 404, or a 503 for a database fault)
            log.info("fast_read_declined", error=type(exc).__name__)
            return None
        if body is None:
            return None
        state[CACHE_RESULT] = "hit" if hit else "miss"
        return Response(body, media_type="application/json")

    return handler


async def _continue_watching(
    app_state: Any, user_id: uuid.UUID, params: dict[str, str]
) -> tuple[bytes | None, bool]:
    return await continue_watching_body(
        app_state, user_id, DEFAULT, cursor=None, limit=DEFAULT_LIMIT
    )


async def _watchlist(
    app_state: Any, user_id: uuid.UUID, params: dict[str, str]
) -> tuple[bytes | None, bool]:
    return await watchlist_body(app_state, user_id, DEFAULT, cursor=None, limit=DEFAULT_LIMIT)


async def _resume(
    app_state: Any, user_id: uuid.UUID, params: dict[str, str]
) -> tuple[bytes | None, bool]:
    return await resume_body(app_state, user_id, DEFAULT, params["video_id"])


VIDEO_ID = r"(?P<video_id>[A-Za-z0-9._:-]{1,128})"
"""A video id as the route's path parameter admits it (anything else goes to the route)."""
FAST_READS = (
    FastRead("/v1/profiles/{user_id}/continue-watching", fast_read(_continue_watching)),
    FastRead("/v1/profiles/{user_id}/watchlist", fast_read(_watchlist)),
    FastRead(
        "/v1/profiles/{user_id}/resume/{video_id}",
        fast_read(_resume),
        pattern=re.compile(rf"^/v1/profiles/(?P<user_id>[^/]+)/resume/{VIDEO_ID}$"),
    ),
)
