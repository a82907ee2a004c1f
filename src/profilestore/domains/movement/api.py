"""REST routes of the movement domain: the training profile (private: the user, an admin or a
service read; the user or an admin write), the programme catalogue (read by anyone signed in,
written by admins) and the programmes a user can do, ranked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from profilestore.domains.movement import catalogue, profile, recommend
from profilestore.domains.movement.models import MovementProfile, Program
from profilestore.domains.movement.schemas import (
    Goal,
    Level,
    Movement,
    MovementWrite,
    ProgramCreate,
    ProgramPage,
    ProgramWrite,
    RecommendationList,
)
from profilestore.domains.movement.schemas import Program as ProgramModel
from profilestore.platform import owners
from profilestore.platform.access import (
    AdminOnly,
    PrivateRead,
    PrivateWrite,
    SignedIn,
)
from profilestore.platform.conditional import (
    etag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.errors import not_found, problem_responses
from profilestore.platform.params import (
    MERGE_PATCH_OPENAPI,
    IfMatch,
    IfNoneMatch,
    MergePatch,
    Reader,
    UserId,
    Writer,
)
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["movement"], route_class=UnitOfWorkRoute)
programs_router = APIRouter(prefix="/v1/programs", tags=["movement"], route_class=UnitOfWorkRoute)
ProgramIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]
RECOMMENDED = 50


def _movement_answer(row: MovementProfile, *, status: int = 200) -> Response:
    return json_response(profile.movement_view(row), status=status, tag=etag(row.version))


@router.get(
    "/movement",
    response_model=Movement,
    summary="The training profile",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_movement(
    user_id: UserId, session: Reader, _: PrivateRead, if_none_match: IfNoneMatch = None
) -> Response:
    row = await profile.get_movement(session, user_id)
    if not_modified(if_none_match, etag(row.version)):
        return not_modified_response(etag(row.version))
    return _movement_answer(row)


@router.put(
    "/movement",
    response_model=Movement,
    summary="Set the training profile (201 created, 200 replaced)",
    responses={201: {"model": Movement}, **problem_responses(401, 404, 412, 413, 415, 422)},
)
async def put_movement(
    user_id: UserId, data: MovementWrite, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    row, created = await profile.put_movement(uow.session, user_id, data, if_match=if_match)
    return _movement_answer(row, status=201 if created else 200)


@router.patch(
    "/movement",
    response_model=Movement,
    summary="Change the training profile with a JSON Merge Patch",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 404, 412, 413, 415, 422),
)
async def patch_movement(
    user_id: UserId, patch: MergePatch, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    row = await profile.patch_movement(uow.session, user_id, patch, if_match=if_match)
    return _movement_answer(row)


@router.get(
    "/programs",
    response_model=RecommendationList,
    summary="The programmes the user can do, best fit first, with the reasons for each score",
    responses=problem_responses(401, 404, 422),
)
async def recommended_programs(
    user_id: UserId,
    session: Reader,
    _: PrivateRead,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    if not await owners.owner_exists(session, user_id):
        raise not_found("profile")
    mine = await session.get(MovementProfile, user_id)
    ranked = recommend.ranked(mine, await catalogue.all_programs(session))
    items = [
        {"program": catalogue.program_view(p), "score": score, "reasons": reasons}
        for p, score, reasons in ranked[:limit]
    ]
    return json_response({"items": items, "widened": recommend.widened(mine)})


def _program_answer(row: Program, *, status: int = 200) -> Response:
    return json_response(catalogue.program_view(row), status=status, tag=etag(row.version))


@programs_router.get(
    "",
    response_model=ProgramPage,
    summary="The programme catalogue, by id (filters: goal, level)",
    responses=problem_responses(401, 422),
)
async def list_programs(
    session: Reader,
    _: SignedIn,
    goal: Goal | None = None,
    level: Level | None = None,
    cursor: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    rows, next_cursor = await catalogue.page(
        session, goal=goal, level=level, cursor=cursor, limit=limit
    )
    items = [catalogue.program_view(row) for row in rows]
    return json_response({"items": items, "next_cursor": next_cursor})


@programs_router.post(
    "",
    response_model=ProgramModel,
    status_code=201,
    summary="Add a programme (409 if its id exists)",
    responses=problem_responses(401, 403, 409, 413, 415, 422),
)
async def create_program(data: ProgramCreate, uow: Writer, _: AdminOnly) -> Response:
    return _program_answer(await catalogue.create_program(uow.session, data), status=201)


@programs_router.get(
    "/{program_id}",
    response_model=ProgramModel,
    summary="One programme",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_program(
    program_id: ProgramIdPath, session: Reader, _: SignedIn, if_none_match: IfNoneMatch = None
) -> Response:
    row = await catalogue.get_program(session, program_id)
    if not_modified(if_none_match, etag(row.version)):
        return not_modified_response(etag(row.version))
    return _program_answer(row)


@programs_router.put(
    "/{program_id}",
    response_model=ProgramModel,
    summary="Create or replace a programme (201 created, 200 replaced)",
    responses={
        201: {"model": ProgramModel},
        **problem_responses(401, 403, 412, 413, 415, 422),
    },
)
async def put_program(
    program_id: ProgramIdPath,
    data: ProgramWrite,
    uow: Writer,
    _: AdminOnly,
    if_match: IfMatch = None,
) -> Response:
    row, created = await catalogue.put_program(uow.session, program_id, data, if_match=if_match)
    return _program_answer(row, status=201 if created else 200)


@programs_router.delete(
    "/{program_id}",
    status_code=204,
    summary="Remove a programme (idempotent)",
    responses=problem_responses(401, 403, 422),
)
async def delete_program(program_id: ProgramIdPath, uow: Writer, _: AdminOnly) -> Response:
    await catalogue.delete_program(uow.session, program_id)
    return Response(status_code=204)
