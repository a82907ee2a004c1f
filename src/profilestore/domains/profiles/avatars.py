"""Avatar rules: the upload and removal as units of work, and where the files live.

A version of an avatar is named by the digest of its largest WebP; its files are
``avatars/<user_id>/<digest>/<size>.webp`` in the blob store. The profile's ``avatar_url``
(``.../v1/profiles/<id>/avatar?v=<digest>``) says which version is current: no table of its
own. Files are written before the commit (removed again if it fails), and the replaced
version's files are removed after it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.profiles import events, service
from profilestore.domains.profiles.avatar_images import SIZES, Rendition
from profilestore.domains.profiles.models import Profile
from profilestore.platform.blobs import BlobStore
from profilestore.platform.conditional import check_if_match
from profilestore.platform.errors import not_found
from profilestore.platform.events.outbox import emit
from profilestore.platform.uow import UnitOfWork

AVATAR_CHANGED = events.PREFIX + "AvatarChanged"
AVATAR_REMOVED = events.PREFIX + "AvatarRemoved"
CONTENT_TYPE = "image/webp"
_VERSION = re.compile(r"/v1/profiles/([0-9a-f-]{36})/avatar\?v=([0-9a-f]{20})$")


def folder(user_id: uuid.UUID) -> str:
    return f"avatars/{user_id}/"


def blob_key(user_id: uuid.UUID, digest: str, size: int) -> str:
    return f"{folder(user_id)}{digest}/{size}.webp"


def version_keys(user_id: uuid.UUID, digest: str) -> list[str]:
    return [blob_key(user_id, digest, size) for size in SIZES]


def current_digest(profile: dict[str, Any]) -> str | None:
    """The digest of the profile's avatar, if its ``avatar_url`` points at one of ours (a user
    may set it to any other URL instead)."""
    found = _VERSION.search(profile.get("avatar_url") or "")
    if found is None or found.group(1) != str(profile["user_id"]):
        return None
    return found.group(2)


@dataclass(frozen=True)
class AvatarWrite:
    uow: UnitOfWork
    blobs: BlobStore
    user_id: uuid.UUID
    if_match: str | None


async def replace(write: AvatarWrite, rendition: Rendition, base_url: str) -> dict[str, Any]:
    """Store ``rendition`` as the user's avatar; the profile as written."""
    session, user_id = write.uow.session, write.user_id
    current = await _locked(session, user_id, write.if_match)
    old = current_digest(service.as_dict(current))
    new_keys = version_keys(user_id, rendition.digest)
    if old != rendition.digest:
        write.uow.on_failure(_removal(write.blobs, new_keys))
    for size, image in rendition.images.items():
        await write.blobs.put(blob_key(user_id, rendition.digest, size), image, CONTENT_TYPE)
    url = f"{base_url.rstrip('/')}/v1/profiles/{user_id}/avatar?v={rendition.digest}"
    profile = await _set_url(session, current, url)
    data = {"user_id": str(user_id), "version": profile["version"], "digest": rendition.digest}
    emit_avatar(session, AVATAR_CHANGED, user_id, {**data, "sizes": list(SIZES)})
    if old is not None and old != rendition.digest:
        write.uow.after_commit(_removal(write.blobs, version_keys(user_id, old)))
    return profile


async def remove(write: AvatarWrite) -> bool:
    """Remove the user's avatar (all sizes); False if they had none of ours."""
    session, user_id = write.uow.session, write.user_id
    current = await _locked(session, user_id, write.if_match)
    old = current_digest(service.as_dict(current))
    if old is None:
        return False
    profile = await _set_url(session, current, None)
    data = {"user_id": str(user_id), "version": profile["version"], "digest": old}
    emit_avatar(session, AVATAR_REMOVED, user_id, data)
    write.uow.after_commit(_removal(write.blobs, version_keys(user_id, old)))
    return True


async def forget(app: Any, user_id: uuid.UUID) -> None:
    """The user is erased or their profile deleted: every avatar file of theirs goes."""
    await app.state.avatars.blobs.delete_prefix(folder(user_id))


def emit_avatar(
    session: AsyncSession, event_type: str, user_id: uuid.UUID, data: dict[str, Any]
) -> None:
    emit(session, event_type=event_type, user_id=user_id, aggregatetype="profile", data=data)


async def _locked(session: AsyncSession, user_id: uuid.UUID, if_match: str | None) -> Profile:
    current = await service.lock_profile(session, user_id)
    if current is None:
        raise not_found("profile")
    check_if_match(session, if_match, current.version)
    return current


async def _set_url(session: AsyncSession, current: Profile, url: str | None) -> dict[str, Any]:
    """Point the profile at ``url``: a profile update like any other (version, cache, the
    ProfileUpdated event and other domains' ``profile_changed``)."""
    change = await service.update_columns(session, current, {"avatar_url": url})
    return change.profile


def _removal(blobs: BlobStore, keys: list[str]) -> Any:
    async def remove_files(_: UnitOfWork) -> None:
        await blobs.delete(keys)

    return remove_files
