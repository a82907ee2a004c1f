"""REST routes of avatars: ``PUT``/``GET``/``DELETE /v1/profiles/{user_id}/avatar``.

The upload is the raw image as the body (``Content-Type: image/jpeg|png|webp|gif``, at most
5 MiB; the type that counts is the one the bytes show). Decoding and encoding run in worker
threads, at most ``PROFILESTORE_AVATAR_WORKERS`` at once per process, so an upload never stalls
the event loop. The GET needs a bearer token like every ``/v1`` route (docs/api.md, "Avatars")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from profilestore.domains.profiles import avatars, service
from profilestore.domains.profiles.api import hidden, profile_response
from profilestore.domains.profiles.avatar_images import (
    MAX_UPLOAD_BYTES,
    SIZES,
    Rendition,
    render,
)
from profilestore.domains.profiles.schemas import Profile
from profilestore.platform.access import OWNER_OR_ADMIN, SIGNED_IN
from profilestore.platform.auth import Principal
from profilestore.platform.blobs import BlobStore, build_blob_store
from profilestore.platform.conditional import not_modified, not_modified_response
from profilestore.platform.errors import ProblemError, invalid, not_found, problem_responses
from profilestore.platform.params import IfMatch, IfNoneMatch, UserId, Writer
from profilestore.platform.uow import UnitOfWorkRoute

PATH = "/v1/profiles/{user_id}/avatar"
MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
router = APIRouter(prefix="/v1", tags=["avatars"], route_class=UnitOfWorkRoute)


@dataclass(frozen=True)
class Avatars:
    """What the routes need, on ``app.state.avatars``: the blob store and the bound on image
    work in flight."""

    blobs: BlobStore
    workers: asyncio.Semaphore

    async def render(self, data: bytes) -> Rendition:
        async with self.workers:
            return await asyncio.to_thread(render, data)


def configure(app: Any) -> None:
    settings = app.state.settings
    app.state.avatars = Avatars(
        build_blob_store(settings), asyncio.Semaphore(settings.avatar_workers)
    )


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES
        },
    }
}


@router.put(
    "/profiles/{user_id}/avatar",
    response_model=Profile,
    summary="Upload the avatar: stored as WebP at 64, 256 and 512 px; avatar_url points at it",
    openapi_extra=UPLOAD_OPENAPI,
    responses=problem_responses(401, 403, 404, 412, 413, 415, 422, 428),
)
async def put_avatar(
    request: Request,
    user_id: UserId,
    uow: Writer,
    principal: Annotated[Principal, Depends(OWNER_OR_ADMIN)],
    if_match: IfMatch = None,
) -> Response:
    data = await upload(request)
    state = request.app.state.avatars
    rendition = await state.render(data)
    write = avatars.AvatarWrite(uow, state.blobs, user_id, if_match)
    profile = await avatars.replace(write, rendition, str(request.base_url))
    return profile_response(profile)


async def upload(request: Request) -> bytes:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise ProblemError(
            415, "unsupported-media-type", f"Send the image as one of {', '.join(MEDIA_TYPES)}."
        )
    data = await request.body()
    if len(data) > MAX_UPLOAD_BYTES:
        raise ProblemError(413, "payload-too-large", f"The body exceeds {MAX_UPLOAD_BYTES} bytes.")
    if not data:
        raise ProblemError(422, "invalid-image", "The body is empty: send the image.")
    return data


@router.get(
    "/profiles/{user_id}/avatar",
    summary="The avatar as WebP at one size (a versioned URL is cached for a year)",
    response_class=Response,
    responses={
        200: {"content": {"image/webp": {}}, "description": "The image"},
        304: {"description": "Not modified"},
        **problem_responses(401, 404, 422),
    },
)
async def get_avatar(
    request: Request,
    user_id: UserId,
    principal: Annotated[Principal, Depends(SIGNED_IN)],
    size: Annotated[int, Query(description="Pixels a side: 64, 256 or 512")] = 256,
    v: Annotated[str | None, Query(max_length=64, description="The version (avatar_url)")] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    if size not in SIZES:
        raise invalid("query.size", "give 64, 256 or 512", "enum")
    state = request.app.state
    profile = await service.PROFILES.get(state.db, user_id)
    digest = avatars.current_digest(profile) if profile is not None else None
    if digest is None or (v is not None and v != digest):
        raise not_found("avatar")
    if await hidden(state, principal, [user_id]):
        raise not_found("avatar")
    tag = f'"{digest}-{size}"'
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    image = await state.avatars.blobs.get(avatars.blob_key(user_id, digest, size))
    if image is None:
        raise not_found("avatar")
    headers = {
        "ETag": tag,
        "Cache-Control": IMMUTABLE if v is not None else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    return Response(image, media_type=avatars.CONTENT_TYPE, headers=headers)


@router.delete(
    "/profiles/{user_id}/avatar",
    status_code=204,
    summary="Remove the avatar, every size of it (idempotent)",
    responses=problem_responses(401, 403, 404, 412, 428),
)
async def delete_avatar(
    request: Request,
    user_id: UserId,
    uow: Writer,
    _: Annotated[Principal, Depends(OWNER_OR_ADMIN)],
    if_match: IfMatch = None,
) -> Response:
    write = avatars.AvatarWrite(uow, request.app.state.avatars.blobs, user_id, if_match)
    await avatars.remove(write)
    return Response(status_code=204)
