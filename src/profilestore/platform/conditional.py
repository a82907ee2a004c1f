"""ETags and conditional requests (RFC 9110): If-Match answers 412 on a stale version,
If-None-Match answers 304 on reads; plus the JSON response every route returns."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from profilestore.platform.errors import ProblemError
from profilestore.platform.jsonutil import dumps


def etag(version: int, *, public: bool = False) -> str:
    """A strong ETag for one version of a resource; the public view has its own."""
    return f'"{version}-public"' if public else f'"{version}"'


def short_digest(data: bytes) -> str:
    """A short digest of a representation, for ETags of views that can change without the
    resource's version (what an audience sees depends on configuration too)."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def content_tag(payload: Any) -> str:
    """A strong ETag for a representation built from several versioned parts (a contact with
    the contact's profile embedded): a digest of its JSON, so it changes whenever any part
    does."""
    return f'"{hashlib.blake2b(dumps(payload), digest_size=12).hexdigest()}"'


def _listed(header: str, tag: str) -> bool:
    return any(part.strip() in (tag, f"W/{tag}") for part in header.split(","))


REQUIRE_IF_MATCH = "require_if_match"
"""Key in a write session's ``info``: set when the deployment requires If-Match on changes."""


def check_if_match(session: AsyncSession, header: str | None, current_version: int | None) -> None:
    """Raise 412 unless ``If-Match`` is absent or names the current version. When the write
    session says it is required (``PROFILESTORE_REQUIRE_IF_MATCH``), a change to an existing
    resource without it is 428."""
    check_if_match_tag(session, header, etag(current_version) if current_version else None)


def if_match_required(session: AsyncSession) -> bool:
    return bool(session.info.get(REQUIRE_IF_MATCH))


def check_if_match_tag(session: AsyncSession, header: str | None, current: str | None) -> None:
    """``check_if_match`` for a resource whose ETag is ``current`` (None: it does not exist)."""
    if header is None:
        if if_match_required(session) and current is not None:
            raise ProblemError(
                428,
                "precondition-required",
                "Send If-Match with the ETag you read: this server refuses blind overwrites.",
            )
        return
    if current is None:
        raise ProblemError(412, "precondition-failed", "The resource does not exist.")
    if header.strip() == "*" or any(p.strip() == current for p in header.split(",")):
        return
    raise ProblemError(
        412, "precondition-failed", "The resource has changed: read it again and retry."
    )


def check_if_none_match_create(header: str | None, exists: bool) -> None:
    """``If-None-Match: *`` on PUT makes it create-only."""
    if header is not None and header.strip() == "*" and exists:
        raise ProblemError(412, "precondition-failed", "The resource already exists.")


def not_modified(header: str | None, tag: str) -> bool:
    return header is not None and (header.strip() == "*" or _listed(header, tag))


def json_response(
    payload: Any,
    *,
    status: int = 200,
    tag: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = Response(dumps(payload), status_code=status, media_type="application/json")
    if tag is not None:
        response.headers["ETag"] = tag
    if headers:
        response.headers.update(headers)
    return response


def not_modified_response(tag: str) -> Response:
    return Response(status_code=304, headers={"ETag": tag})
