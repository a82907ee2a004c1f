"""REST routes of the nutrition domain: body metrics and weight history (private: the user, an
admin or a service read; the user or an admin (a dietitian) write)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Body as BodyParam
from starlette.responses import Response

from profilestore.domains.nutrition import body, calories, eating, goals, summary
from profilestore.domains.nutrition.models import Body as BodyRow
from profilestore.domains.nutrition.models import Eating as EatingRow
from profilestore.domains.nutrition.schemas import (
    MAX_BATCH,
    Body,
    BodyWrite,
    CalorieBatchAnswer,
    CalorieEntry,
    CalorieKind,
    CaloriePage,
    CaloriePost,
    CalorieSummary,
    CalorieWrite,
    Eating,
    EatingWrite,
    Formula,
    GoalList,
    GoalView,
    GoalWrite,
    Granularity,
    IsoDate,
    WeightEntry,
    WeightList,
    WeightLog,
)
from profilestore.platform.access import (
    PrivateRead,
    PrivateWrite,
)
from profilestore.platform.conditional import (
    etag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.errors import invalid, problem_responses
from profilestore.platform.pagination import POSITION_PATTERN
from profilestore.platform.params import (
    MERGE_PATCH_OPENAPI,
    IfMatch,
    IfNoneMatch,
    MergePatch,
    Reader,
    UserId,
    Writer,
)
from profilestore.platform.types import BoundedDatetime
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(prefix="/v1/profiles/{user_id}", tags=["nutrition"], route_class=UnitOfWorkRoute)
FormulaParam = Annotated[Formula, Query(description="The BMR equation")]
CaloriePayload = Annotated[CaloriePost, BodyParam(media_type="application/json")]


def _answer(row: BodyRow, formula: str = "mifflin_st_jeor", *, status: int = 200) -> Response:
    return json_response(body.body_view(row, formula), status=status, tag=etag(row.version))


@router.get(
    "/body",
    response_model=Body,
    summary="Body metrics with age, BMR and TDEE derived (in the user's units)",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_body(
    user_id: UserId,
    session: Reader,
    _: PrivateRead,
    formula: FormulaParam = "mifflin_st_jeor",
    if_none_match: IfNoneMatch = None,
) -> Response:
    row = await body.get_body(session, user_id)
    if not_modified(if_none_match, etag(row.version)):
        return not_modified_response(etag(row.version))
    return _answer(row, formula)


@router.put(
    "/body",
    response_model=Body,
    summary="Set body metrics (201 created, 200 replaced; left-out fields become unknown)",
    responses={201: {"model": Body}, **problem_responses(401, 404, 412, 428, 413, 415, 422)},
)
async def put_body(
    user_id: UserId, data: BodyWrite, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    row, created = await body.put_body(uow.session, user_id, data, if_match=if_match)
    return _answer(row, status=201 if created else 200)


@router.patch(
    "/body",
    response_model=Body,
    summary="Change body metrics with a JSON Merge Patch (metric or imperial fields)",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 404, 412, 428, 413, 415, 422),
)
async def patch_body(
    user_id: UserId, patch: MergePatch, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    return _answer(await body.patch_body(uow.session, user_id, patch, if_match=if_match))


@router.get(
    "/body/weights",
    response_model=WeightList,
    summary="Weight history, oldest first (from/to: days, both included)",
    responses=problem_responses(401, 404, 422),
)
async def list_weights(
    user_id: UserId,
    session: Reader,
    _: PrivateRead,
    since: Annotated[IsoDate | None, Query(alias="from")] = None,
    until: Annotated[IsoDate | None, Query(alias="to")] = None,
) -> Response:
    if since is not None and until is not None and since > until:
        raise invalid("query.from", "must not be after `to`", "range")
    return json_response({"items": await body.weights(session, user_id, since, until)})


@router.post(
    "/body/weights",
    response_model=WeightEntry,
    status_code=201,
    summary="Log the weight of a day (replaces that day's entry)",
    responses=problem_responses(401, 404, 413, 415, 422),
)
async def log_weight(user_id: UserId, data: WeightLog, uow: Writer, _: PrivateWrite) -> Response:
    return json_response(await body.log_weight(uow.session, user_id, data), status=201)


async def _eating_answer(session: Any, row: EatingRow, *, status: int = 200) -> Response:
    view = await eating.eating_view(session, row)
    return json_response(view, status=status, tag=etag(row.version))


@router.get(
    "/eating",
    response_model=Eating,
    summary="The eating profile with the calorie target (an override, or derived)",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_eating(
    user_id: UserId, session: Reader, _: PrivateRead, if_none_match: IfNoneMatch = None
) -> Response:
    row = await eating.get_eating(session, user_id)
    if not_modified(if_none_match, etag(row.version)):
        return not_modified_response(etag(row.version))
    return await _eating_answer(session, row)


@router.put(
    "/eating",
    response_model=Eating,
    summary="Set the eating profile (201 created, 200 replaced)",
    responses={201: {"model": Eating}, **problem_responses(401, 404, 412, 428, 413, 415, 422)},
)
async def put_eating(
    user_id: UserId, data: EatingWrite, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    row, created = await eating.put_eating(uow.session, user_id, data, if_match=if_match)
    return await _eating_answer(uow.session, row, status=201 if created else 200)


@router.patch(
    "/eating",
    response_model=Eating,
    summary="Change the eating profile with a JSON Merge Patch (null removes the override)",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 404, 412, 428, 413, 415, 422),
)
async def patch_eating(
    user_id: UserId, patch: MergePatch, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    row = await eating.patch_eating(uow.session, user_id, patch, if_match=if_match)
    return await _eating_answer(uow.session, row)


@router.post(
    "/goals",
    response_model=GoalView,
    status_code=201,
    summary="Set the active goal (the previous one ends; the calorie target follows)",
    responses=problem_responses(401, 404, 413, 415, 422),
)
async def set_goal(user_id: UserId, data: GoalWrite, uow: Writer, _: PrivateWrite) -> Response:
    return json_response(await goals.set_goal(uow.session, user_id, data), status=201)


@router.get(
    "/goals",
    response_model=GoalList,
    summary="The user's goals, newest first (the active one has ended_at null)",
    responses=problem_responses(401, 404),
)
async def list_goals(user_id: UserId, session: Reader, _: PrivateRead) -> Response:
    return json_response({"items": await goals.list_goals(session, user_id)})


_EVENT_SCHEMA = CalorieWrite.model_json_schema(ref_template="#/components/schemas/{model}")
CALORIE_BODY_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT_SCHEMA,
                        {
                            "type": "object",
                            "required": ["events"],
                            "additionalProperties": False,
                            "properties": {
                                "events": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": MAX_BATCH,
                                    "items": _EVENT_SCHEMA,
                                }
                            },
                        },
                    ]
                }
            }
        },
    }
}


@router.post(
    "/calories",
    response_model=CalorieEntry | CalorieBatchAnswer,
    status_code=201,
    summary='Log one calorie event, or a batch {"events": [...]} of up to 1000 (all or none)',
    openapi_extra=CALORIE_BODY_OPENAPI,
    responses={
        200: {"model": CalorieEntry, "description": "One event already logged (by event_id)"},
        **problem_responses(401, 404, 413, 415, 422),
    },
)
async def log_calories(
    user_id: UserId, payload: CaloriePayload, uow: Writer, _: PrivateWrite
) -> Response:
    entries, batch = calories.parse(payload.root)
    items, created = await calories.log(uow.session, user_id, entries)
    if batch:
        answer = {"items": items, "created": created, "duplicates": len(items) - created}
        return json_response(answer, status=201)
    return json_response(items[0], status=201 if created else 200)


@router.get(
    "/calories",
    response_model=CaloriePage,
    summary="Logged calorie events, newest first (from: at or after; to: before)",
    responses=problem_responses(401, 404, 422),
)
async def list_calories(
    user_id: UserId,
    session: Reader,
    _: PrivateRead,
    since: Annotated[BoundedDatetime | None, Query(alias="from")] = None,
    until: Annotated[BoundedDatetime | None, Query(alias="to")] = None,
    kind: CalorieKind | None = None,
    cursor: Annotated[str | None, Query(pattern=POSITION_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    if since is not None and until is not None and since >= until:
        raise invalid("query.from", "must be before `to`", "range")
    items, next_cursor = await calories.page(
        session, user_id, since=since, until=until, kind=kind, cursor=cursor, limit=limit
    )
    return json_response({"items": items, "next_cursor": next_cursor})


@router.get(
    "/calories/summary",
    response_model=CalorieSummary,
    summary="Calories per local hour, day, ISO week, month or year, with the daily balance",
    description=(
        "Buckets follow the profile's timezone. `from` and `to` are local dates, both "
        "included, widened to whole buckets (default: today's hours, the last 30 days, 13 "
        "weeks, 12 months or 5 years). At most 4000 buckets. Read from rollups kept with "
        "every ledger write; see docs/nutrition.md for the balance."
    ),
    responses=problem_responses(401, 404, 422),
)
async def calorie_summary(
    user_id: UserId,
    session: Reader,
    _: PrivateRead,
    granularity: Granularity = "day",
    first: Annotated[IsoDate | None, Query(alias="from")] = None,
    last: Annotated[IsoDate | None, Query(alias="to")] = None,
) -> Response:
    answer = await summary.summary(session, user_id, granularity, first, last)
    return json_response(answer)


@router.patch(
    "/calories/{event_id:uuid}",
    response_model=CalorieEntry,
    summary="Correct a logged event (JSON Merge Patch)",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 404, 413, 415, 422),
)
async def correct_calories(
    user_id: UserId, event_id: uuid.UUID, patch: MergePatch, uow: Writer, _: PrivateWrite
) -> Response:
    return json_response(await calories.correct(uow.session, user_id, event_id, patch))


@router.delete(
    "/calories/{event_id:uuid}",
    status_code=204,
    summary="Remove a logged event (idempotent)",
    responses=problem_responses(401, 404, 422),
)
async def remove_calories(
    user_id: UserId, event_id: uuid.UUID, uow: Writer, _: PrivateWrite
) -> Response:
    await calories.remove(uow.session, user_id, event_id)
    return Response(status_code=204)
