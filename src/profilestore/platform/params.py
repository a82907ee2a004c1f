"""Parameter and dependency types every domain's routes share: the read session, the unit of
work, conditional-request headers, the merge-patch body, and the user id in the path."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Query
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.db import read_session
from profilestore.platform.pagination import CURSOR_PATTERN
from profilestore.platform.uow import UnitOfWork, Writer

MERGE_PATCH = "application/merge-patch+json"

Reader = Annotated[AsyncSession, Depends(read_session)]
IfMatch = Annotated[str | None, Header(description="ETag of the version you read; 412 if stale")]
IfNoneMatch = Annotated[str | None, Header()]
UserId = Annotated[uuid.UUID, "the profile's user id"]
MergePatch = Annotated[dict[str, Any], Body(media_type=MERGE_PATCH)]
Cursor = Annotated[
    str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page (1-200)")]
MERGE_PATCH_OPENAPI = {"requestBody": {"content": {MERGE_PATCH: {"schema": {"type": "object"}}}}}

__all__ = [
    "MERGE_PATCH",
    "MERGE_PATCH_OPENAPI",
    "Cursor",
    "IfMatch",
    "IfNoneMatch",
    "Limit",
    "MergePatch",
    "Reader",
    "UnitOfWork",
    "UserId",
    "Writer",
]
