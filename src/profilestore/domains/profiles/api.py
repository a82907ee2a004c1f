"""REST routes of the profiles domain: profiles, batch and username look-ups.

The read routes take the database from ``request.app.state`` rather than through a dependency:
they are the hot path, and every dependency FastAPI solves costs each request (see
bench/README.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from profilestore.domains.profiles import audiences, cached, service
from profilestore.domains.profiles.audiences import Reach
from profilestore.domains.profiles.schemas import (
    Profile,
    ProfileList,
    ProfileWrite,
    PublicProfile,
)
from profilestore.platform import registry
from profilestore.platform.access import OWNER_OR_ADMIN, SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.conditional import (
    etag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.errors import invalid, not_found, problem_responses
from profilestore.platform.http import CACHE_RESULT
from profilestore.platform.limits import limit_lookup
from profilestore.platform.params import (
    MERGE_PATCH_OPENAPI,
    IfMatch,
    IfNoneMatch,
    MergePatch,
    UserId,
    Writer,
)
from profilestore.platform.uow import UnitOfWork, UnitOfWorkRoute

router = APIRouter(prefix="/v1", tags=["profiles"], route_class=UnitOfWorkRoute)


def reads_for(principal: Principal) -> tuple[service.ProfileReads, dict[str, Any]]:
    """Users see profiles through every domain's viewer filter (never the profile of one who
    blocks them); admins and services see all."""
    if principal.is_admin or principal.is_service or principal.user_id is None:
        return service.PROFILES, {}
    return service.visible_reads(), {"viewer": principal.user_id}


def sees_everything(principal: Principal, user_id: uuid.UUID) -> bool:
    return principal.owns(user_id) or principal.is_admin or principal.is_service


def profile_response(profile: dict[str, Any], *, status: int = 200) -> Response:
    """A write's answer: the whole profile (only its owner, an admin or a service writes it)."""
    return json_response(profile, status=status, tag=etag(profile["version"]))


async def reaches(
    state: Any, principal: Principal, owners: list[uuid.UUID]
) -> dict[uuid.UUID, Reach]:
    """How the caller reaches each of ``owners``' profiles: ``full`` (their own; an admin, a
    service), ``contacts`` (the owner has them as a contact) or ``public``."""
    viewer = principal.user_id
    if principal.is_admin or principal.is_service or viewer is None:
        return dict.fromkeys(owners, "full")
    others = [owner for owner in owners if owner != viewer]
    contacts = (
        await registry.contacts_among(state.db, state.cache, viewer, others)
        if others
        else frozenset()
    )
    return {
        owner: "full" if owner == viewer else "contacts" if owner in contacts else "public"
        for owner in owners
    }


@router.get(
    "/me",
    response_model=Profile,
    summary="The caller's own profile",
    responses=problem_responses(401, 404),
)
async def get_me(
    request: Request,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    if_none_match: IfNoneMatch = None,
) -> Response:
    if principal.user_id is None:
        raise not_found("profile")
    return await cached_profile_response(request, principal.user_id, principal, if_none_match)


@router.get(
    "/profiles",
    response_model=ProfileList,
    summary="Batch read by ids (up to the batch limit, one query) or look-up by username",
    responses=problem_responses(401, 422),
)
async def find_profiles(
    request: Request,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    ids: Annotated[str | None, Query(description="Comma-separated user ids")] = None,
    username: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    if (ids is None) == (username is None):
        raise invalid("query", "give exactly one of ids or username")
    if username is not None:
        await limit_lookup(request)
        reads, viewer = reads_for(principal)
        found = await reads.find_by_username(request.app.state.db, username, **viewer)
        if found is None:
            return json_response({"items": []})
        full = sees_everything(principal, found["user_id"])
        return json_response({"items": [audiences.row_view(found, full=full)]})
    user_ids = parse_ids(ids or "", request.app.state.settings.batch_max_ids)
    state = request.app.state
    entries = await cached.read_profiles(state.db, state.cache, user_ids)
    hide = await hidden(state, principal, list(entries))
    shown = [user_id for user_id in dict.fromkeys(user_ids) if user_id in entries]
    reach = await reaches(state, principal, [u for u in shown if u not in hide])
    bodies = [cached.view(entries[user_id], reach[user_id]).body for user_id in reach]
    return Response(b'{"items":[' + b",".join(bodies) + b"]}", media_type="application/json")


def parse_ids(raw: str, limit: int) -> list[uuid.UUID]:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise invalid("query.ids", "give at least one id")
    if len(parts) > limit:
        raise invalid("query.ids", f"at most {limit} ids per request")
    try:
        return [uuid.UUID(part) for part in parts]
    except ValueError:
        raise invalid("query.ids", "every id must be a UUID") from None


@router.get(
    "/profiles/{user_id}",
    response_model=Profile | PublicProfile,
    summary="One profile: the whole of it for its owner, admins and services; else the public view",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_profile(
    request: Request,
    user_id: UserId,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await cached_profile_response(request, user_id, principal, if_none_match)


async def cached_profile_response(
    request: Request, user_id: uuid.UUID, principal: Principal, if_none_match: str | None
) -> Response:
    """The profile from the cache: the whole of it or the public view, with its ETag; 404 when
    there is none or the caller may not see it (an owner who blocks them)."""
    state = request.app.state
    entry, hit = await cached.read_profile(state.db, state.cache, user_id)
    request.scope["state"][CACHE_RESULT] = "hit" if hit else "miss"
    reach = await reach_if_visible(state, principal, user_id) if entry is not None else None
    if entry is None or reach is None:
        raise not_found("profile")
    return entry_response(entry, reach, if_none_match)


async def reach_if_visible(state: Any, principal: Principal, user_id: uuid.UUID) -> Reach | None:
    """How the caller reaches ``user_id``'s profile; None: they may not see it."""
    if await hidden(state, principal, [user_id]):
        return None
    return (await reaches(state, principal, [user_id]))[user_id]


def entry_response(entry: bytes, reach: Reach, if_none_match: str | None) -> Response:
    """The cached representation the caller may see, with its ETag (304 when it matches)."""
    representation = cached.view(entry, reach)
    if not_modified(if_none_match, representation.tag):
        return not_modified_response(representation.tag)
    return Response(
        representation.body, media_type="application/json", headers={"ETag": representation.tag}
    )


async def hidden(state: Any, principal: Principal, owners: list[uuid.UUID]) -> frozenset[uuid.UUID]:
    """Those of ``owners`` whose profile the caller may not see (by every domain's rule)."""
    viewer = principal.user_id
    if principal.is_admin or principal.is_service or viewer is None:
        return frozenset()
    if all(owner == viewer for owner in owners):
        return frozenset()
    return await registry.hidden_from(state.db, state.cache, viewer) & set(owners)


@router.put(
    "/profiles/{user_id}",
    response_model=Profile,
    status_code=200,
    summary="Create (201) or replace (200) a profile",
    responses={
        201: {"model": Profile},
        **problem_responses(401, 403, 409, 412, 428, 413, 415, 422),
    },
)
async def put_profile(
    user_id: UserId,
    body: ProfileWrite,
    uow: Writer,
    _: Annotated[Principal, Depends(OWNER_OR_ADMIN)],
    if_match: IfMatch = None,
    if_none_match: Annotated[str | None, Header(description="* makes the PUT create-only")] = None,
) -> Response:
    change = await service.put_profile(
        uow.session, user_id, body, if_match=if_match, if_none_match=if_none_match
    )
    return profile_response(change.profile, status=201 if change.created else 200)


@router.patch(
    "/profiles/{user_id}",
    response_model=Profile,
    summary="Update a profile with a JSON Merge Patch (RFC 7396)",
    openapi_extra=MERGE_PATCH_OPENAPI,
    responses=problem_responses(401, 403, 404, 409, 412, 428, 413, 415, 422),
)
async def patch_profile(
    user_id: UserId,
    patch: MergePatch,
    uow: Writer,
    _: Annotated[Principal, Depends(OWNER_OR_ADMIN)],
    if_match: IfMatch = None,
) -> Response:
    change = await service.patch_profile(uow.session, user_id, patch, if_match=if_match)
    return profile_response(change.profile)


@router.delete(
    "/profiles/{user_id}",
    status_code=204,
    summary="Delete a profile and everything of it in this domain (idempotent)",
    responses=problem_responses(401, 403, 412, 428),
)
async def delete_profile(
    request: Request,
    user_id: UserId,
    uow: Writer,
    _: Annotated[Principal, Depends(OWNER_OR_ADMIN)],
    if_match: IfMatch = None,
) -> Response:
    async def forget_outside_database(_: UnitOfWork) -> None:
        await registry.forget(request.app, user_id)  # presence, avatar files

    if await service.delete_profile(uow.session, user_id, if_match=if_match):
        uow.after_commit(forget_outside_database)
    return Response(status_code=204)
