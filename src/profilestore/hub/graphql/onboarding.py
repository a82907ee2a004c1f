"""``createUserProfile``: the onboarding call that writes identity, body, eating and movement
at once, each with its own domain's ``PUT`` route (``OnboardingStep``).

Steps of domains served in this process run in one transaction (a route call joins the
mutation's unit of work through ``SHARED_KEY``): all of them or none. Steps of domains served
elsewhere run after it, concurrently, each with an Idempotency-Key derived from the
mutation's own (``Idempotency-Key`` header), so a retry of the mutation completes what is
missing and repeats nothing; the answer says per step ``created``, ``updated``,
``unchanged`` or ``failed``."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.responses import Response

from profilestore.hub.graphql.context import GraphContext, UserRef
from profilestore.hub.graphql.dispatch import Answer, raise_for_problem
from profilestore.hub.graphql.typegen import UUID, input_body, input_type
from profilestore.platform.graphqlspec import DomainGraph, OnboardingStep
from profilestore.platform.uow import SHARED_KEY, open_unit_of_work

IDEMPOTENCY_HEADER = "idempotency-key"


@strawberry.type(description="Why a step failed: the REST problem type and its detail")
class StepError:
    code: str
    message: str


@strawberry.type(description="What one step of createUserProfile did")
class StepResult:
    step: str
    domain: str
    status: str = strawberry.field(description="created, updated, unchanged or failed")
    error: StepError | None = None


Step = tuple[str, OnboardingStep]


def create_user_profile_field(graphs: list[DomainGraph], user: type) -> Any:
    steps: list[Step] = [(g.part, step) for g in graphs for step in g.onboarding]
    given = _input(steps)
    payload = strawberry.type(
        type(
            "CreateUserProfilePayload",
            (),
            {"__annotations__": {"user": user, "steps": list[StepResult]}},
        ),
        description="The user as written, and what each step did",
    )

    async def resolve(info: strawberry.Info, input: Any) -> Any:
        return await create_user_profile(info.context, steps, input)

    resolve.__annotations__ = {"info": strawberry.Info, "input": given, "return": payload}
    return strawberry.field(
        resolver=resolve,
        description="Onboarding: writes every given part (one transaction in one process)",
    )


def _input(steps: list[Step]) -> type:
    annotations: dict[str, Any] = {"user_id": UUID | None}
    namespace: dict[str, Any] = {
        "__annotations__": annotations,
        "user_id": strawberry.field(
            name="userId", default=None, description="Whose profile (default: the caller)"
        ),
    }
    for _, step in steps:
        kind = input_type(step.input_model)
        annotations[step.name] = kind if step.required else kind | None
        if not step.required:
            namespace[step.name] = strawberry.field(default=strawberry.UNSET)
    return strawberry.input(type("CreateUserProfileInput", (), namespace))


async def create_user_profile(context: GraphContext, steps: list[Step], given: Any) -> Any:
    user_id = _user_id(context, given.user_id)
    chosen = [(part, step) for part, step in steps if _section(given, step) is not None]
    remotes = context.dispatch.remote_domains
    local = [(part, step) for part, step in chosen if part not in remotes]
    elsewhere = [(part, step) for part, step in chosen if part in remotes]
    started = dt.datetime.now(dt.UTC)
    results = await _in_one_transaction(context, local, given, user_id, started)
    key = _mutation_key(context)
    results += await asyncio.gather(
        *(
            _remote_step(context, part, step, given, user_id, key, started)
            for part, step in elsewhere
        )
    )
    return {"user": UserRef(user_id), "steps": results}


async def _in_one_transaction(
    context: GraphContext,
    steps: list[Step],
    given: Any,
    user_id: uuid.UUID,
    started: dt.datetime,
) -> list[StepResult]:
    if not steps:
        return []
    results = []
    async with open_unit_of_work(context.dispatch.request) as uow:
        for part, step in steps:
            answer = await _put(context, part, step, given, user_id, state={SHARED_KEY: uow})
            try:
                raise_for_problem(answer)
            except GraphQLError as error:
                error.extensions = {**(error.extensions or {}), "step": step.name}
                raise
            results.append(StepResult(step=step.name, domain=part, status=_status(answer, started)))
        await uow.commit(Response(status_code=200))
    return results


async def _remote_step(
    context: GraphContext,
    part: str,
    step: OnboardingStep,
    given: Any,
    user_id: uuid.UUID,
    key: str | None,
    started: dt.datetime,
) -> StepResult:
    headers = {IDEMPOTENCY_HEADER: _derived_key(key, step.name)} if key else {}
    try:
        answer = await _put(context, part, step, given, user_id, headers=headers)
        raise_for_problem(answer)
    except GraphQLError as error:
        code = str((error.extensions or {}).get("code", "unavailable"))
        return StepResult(
            step=step.name,
            domain=part,
            status="failed",
            error=StepError(code=code, message=error.message),
        )
    return StepResult(step=step.name, domain=part, status=_status(answer, started))


async def _put(
    context: GraphContext,
    part: str,
    step: OnboardingStep,
    given: Any,
    user_id: uuid.UUID,
    *,
    headers: dict[str, str] | None = None,
    state: dict[str, Any] | None = None,
) -> Answer:
    body = input_body(_section(given, step))
    path = step.path.format(user_id=user_id)
    return await context.dispatch.call(part, "PUT", path, body=body, headers=headers, state=state)


def _section(given: Any, step: OnboardingStep) -> Any:
    value = getattr(given, step.name, None)
    return None if value is strawberry.UNSET else value


def _status(answer: Answer, started: dt.datetime) -> str:
    """created (201), unchanged (a replayed answer, or nothing written since the mutation
    began) or updated."""
    if answer.headers.get("idempotent-replayed") == "true":
        return "unchanged"
    if answer.status == 201:
        return "created"
    written = answer.body.get("updated_at") if isinstance(answer.body, dict) else None
    if written and dt.datetime.fromisoformat(str(written).replace("Z", "+00:00")) < started:
        return "unchanged"
    return "updated"


def _user_id(context: GraphContext, given: Any) -> uuid.UUID:
    if given:
        try:
            return uuid.UUID(str(given))
        except ValueError:
            raise GraphQLError(
                "userId must be a UUID.", extensions={"code": "validation-failed", "status": 422}
            ) from None
    if context.principal.user_id is None:
        raise GraphQLError(
            "Give userId: the caller's token names no user.",
            extensions={"code": "validation-failed", "status": 422},
        )
    return context.principal.user_id


def _mutation_key(context: GraphContext) -> str | None:
    return context.dispatch.request.headers.get(IDEMPOTENCY_HEADER)


def _derived_key(key: str, step: str) -> str:
    """A key per step, the same for every retry of the mutation with ``key``."""
    digest = hashlib.sha256(key.encode()).digest()[:24]
    return f"onboarding-{base64.urlsafe_b64encode(digest).decode()}-{step}"
