"""``GET /v1/search/profiles``: find people by username or display name (find friends,
@-mention autocomplete). Each call counts as an existence-revealing look-up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import event
from starlette.responses import Response

from profilestore.domains.profiles import search
from profilestore.domains.profiles.schemas import PublicProfile
from profilestore.domains.profiles.usernames import reserved_names
from profilestore.platform.access import SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import json_response
from profilestore.platform.errors import problem_responses
from profilestore.platform.limits import limit_lookup
from profilestore.platform.params import Reader
from profilestore.platform.types import TextRule
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/search", tags=["search"], route_class=UnitOfWorkRoute)

QUERY_MAX_LENGTH = 64
Q = Annotated[
    Annotated[str, TextRule(QUERY_MAX_LENGTH, strip=True, not_blank=True)],
    Query(
        description="What to look for (1-64 characters, a leading @ is ignored): the start "
        "or, from 3 characters, a misspelling of a username or display name"
    ),
]
Cursor = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the last page"),
]


class SearchPage(BaseModel):
    items: list[PublicProfile]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last")


def configure(app: Any) -> None:
    """Read the reserved names once at start (an unreadable file fails here, not on a write)
    and give SQLite connections the search functions."""
    reserved_names(app.state.settings)
    if app.state.db.is_sqlite:
        event.listen(app.state.db.engine.sync_engine, "connect", search.register_sqlite_functions)


@router.get(
    "/profiles",
    response_model=SearchPage,
    summary="Find people: exact, then prefix, then typo-tolerant matches (public fields only)",
    responses=problem_responses(401, 422, 429),
)
async def search_profiles(
    request: Request,
    session: Reader,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    q: Q,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=50, description="Items per page (1-50)")] = 20,
) -> Response:
    await limit_lookup(request)
    after = search.decode_position(cursor) if cursor is not None else None
    privileged = principal.is_admin or principal.is_service
    viewer = search.Viewer(None if privileged else principal.user_id)
    items, last = await search.search(session, q, viewer, after, limit)
    next_cursor = search.encode_position(last) if last is not None else None
    return json_response({"items": items, "next_cursor": next_cursor})
