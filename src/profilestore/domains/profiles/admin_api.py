"""``GET /v1/admin/profiles``: every whole profile, for back-office tools (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from profilestore.domains.profiles import admin
from profilestore.domains.profiles.schemas import Profile
from profilestore.platform.access import AdminOnly
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import problem_responses
from profilestore.platform.pagination import POSITION_PATTERN
from profilestore.platform.params import Reader
from profilestore.platform.types import TextRule
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=UnitOfWorkRoute)

UpdatedSince = Annotated[
    admin.UpdatedSince | None,
    Query(description="Only profiles updated at or after this RFC 3339 time (with an offset)"),
]
Cursor = Annotated[
    str | None, Query(pattern=POSITION_PATTERN, description="next_cursor of the previous page")
]
Search = Annotated[
    Annotated[str, TextRule(64, strip=True, not_blank=True)] | None,
    Query(
        description="A case- and accent-insensitive part of the username or display name "
        f"(1-64 characters); a page examines at most {admin.SEARCH_BUDGET} profiles"
    ),
]
Limit = Annotated[
    int, Query(ge=1, le=admin.PAGE_MAX, description=f"Items per page (1-{admin.PAGE_MAX})")
]


class AdminProfilePage(BaseModel):
    items: list[Profile]
    next_cursor: str | None = Field(
        description="Cursor of the next page; null when there is none. A search page may be "
        "short (even empty) and still have one."
    )


@router.get(
    "/profiles",
    response_model=AdminProfilePage,
    summary="Every profile, whole, oldest update first (admins only)",
    description="Ordered by `(updated_at, user_id)`: page with `cursor`, or keep the last "
    "`updated_at` seen as the next `updated_since` to read only what changed.",
    responses=problem_responses(401, 403, 422),
)
async def list_profiles(
    session: Reader,
    _: AdminOnly,
    updated_since: UpdatedSince = None,
    cursor: Cursor = None,
    q: Search = None,
    limit: Limit = admin.PAGE_DEFAULT,
) -> Response:
    listing = admin.Listing(
        updated_since=updated_since,
        after=admin.decode_cursor(cursor) if cursor is not None else None,
        q=q,
        limit=limit,
    )
    items, next_cursor = await admin.list_profiles(session, listing)
    return json_response({"items": items, "next_cursor": next_cursor})
