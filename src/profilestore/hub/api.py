"""REST routes of the hub."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from profilestore.hub.aggregate import aggregate
from profilestore.platform.access import SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import problem_responses
from profilestore.platform.params import UserId

router = APIRouter(prefix="/v1/users/{user_id}", tags=["hub"])


@router.get(
    "/profiles",
    summary="Everything the UI needs of a user in one call, each part by its own domain's rules",
    description=(
        "`identity` and one section per domain (`nutrition`, `movement`, `media`, `social`). "
        "A section with no data is null and named in `missing`; a section that failed is "
        "null and named in `errors` (the answer is still 200); a private section the caller "
        "may not read is null. A stranger sees the public identity only."
    ),
    responses=problem_responses(401, 404, 422),
)
async def user_profiles(
    request: Request,
    user_id: UserId,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
) -> Response:
    return json_response(await aggregate(request.app.state, principal, user_id))
