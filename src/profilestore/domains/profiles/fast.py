"""Fast reads of the profiles domain (``platform.fastpath``): ``GET /v1/profiles/{user_id}``
and ``GET /v1/me``, through the same cache functions as ``api.cached_profile_response``; a
missing or hidden profile, or any failure, is left to the route (which answers it)."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from starlette.responses import Response

from profilestore.domains.profiles import cached
from profilestore.domains.profiles.api import entry_response, reach_if_visible
from profilestore.platform.auth import Principal
from profilestore.platform.fastpath import FastRead
from profilestore.platform.http import CACHE_RESULT

log = structlog.get_logger("profilestore.fastpath")


async def profile(
    app_state: Any,
    state: dict[str, Any],
    principal: Principal,
    params: dict[str, str],
    headers: dict[bytes, bytes],
) -> Response | None:
    try:
        user_id = uuid.UUID(params["user_id"])
    except ValueError:
        return None
    return await answer(app_state, state, principal, user_id, headers)


async def me(
    app_state: Any,
    state: dict[str, Any],
    principal: Principal,
    params: dict[str, str],
    headers: dict[bytes, bytes],
) -> Response | None:
    if principal.user_id is None:
        return None
    return await answer(app_state, state, principal, principal.user_id, headers)


async def answer(
    app_state: Any,
    state: dict[str, Any],
    principal: Principal,
    user_id: uuid.UUID,
    headers: dict[bytes, bytes],
) -> Response | None:
    try:
        entry, hit = await cached.read_profile(app_state.db, app_state.cache, user_id)
        reach = await reach_if_visible(app_state, principal, user_id) if entry else None
        if entry is None or reach is None:
            return None
    except Exception as exc:  # the route answers it (a 503 for a database fault)
        log.info("fast_read_declined", error=type(exc).__name__)
        return None
    state[CACHE_RESULT] = "hit" if hit else "miss"
    if_none_match = headers.get(b"if-none-match")
    condition = if_none_match.decode("latin-1") if if_none_match is not None else None
    return entry_response(entry, reach, condition)


FAST_READS = (
    FastRead("/v1/profiles/{user_id}", profile),
    FastRead("/v1/me", me),
)
