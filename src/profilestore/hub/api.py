"""REST routes of the hub."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from profilestore.hub.aggregate import aggregate, sections
from profilestore.hub.remote import SECTIONS_PARAMETER, Forward
from profilestore.platform.access import SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import invalid, problem_responses
from profilestore.platform.params import UserId

router = APIRouter(prefix="/v1/users/{user_id}", tags=["hub"])

Sections = Annotated[
    str | None,
    Query(
        alias=SECTIONS_PARAMETER,
        max_length=200,
        pattern=r"^[a-z_]{1,32}(,[a-z_]{1,32})*$",
        description="Only these sections, comma separated (e.g. `nutrition,movement`); "
        "default: all. The others are left out of the answer.",
    ),
]


@router.get(
    "/profiles",
    summary="Everything the UI needs of a user in one call, each part by its own domain's rules",
    description=(
        "`identity` and one section per domain (`nutrition`, `movement`, `media`, `social`). "
        "A section with no data is null and named in `missing`; a section that failed or did "
        "not answer within the hub's time budget is null and named in `errors` with a code "
        "(`timeout`, `unavailable`, ...: docs/federation.md; the answer is still 200); a "
        "private section the caller may not read is null. A stranger sees the public identity "
        "only. Sections may come from other services (docs/federation.md)."
    ),
    responses=problem_responses(401, 404, 422),
)
async def user_profiles(
    request: Request,
    user_id: UserId,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    only: Sections = None,
) -> Response:
    state = request.app.state
    chosen = None
    if only is not None:
        chosen = frozenset(only.split(","))
        known = sections(state)
        unknown = sorted(chosen.difference(known))
        if unknown:
            message = f"Unknown section {unknown[0]!r} (this service: {', '.join(known)})"
            raise invalid(f"query.{SECTIONS_PARAMETER}", message, "unknown")
    body = await aggregate(state, principal, user_id, only=chosen, forward=Forward.of(request))
    return json_response(body)
