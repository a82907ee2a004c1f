"""Parameters the media routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from profilestore.domains.media.schemas import DEFAULT_VIEWER, VIDEO_ID_PATTERN, VIEWER_ID_PATTERN
from profilestore.platform.access import OWNER_ADMIN_OR_SERVICE_PRIVATE
from profilestore.platform.auth import Principal
from profilestore.platform.pagination import POSITION_PATTERN

Owner = Annotated[Principal, Depends(OWNER_ADMIN_OR_SERVICE_PRIVATE)]
"""Media rows are private: the account's owner, an admin, or a service (a player back end)."""
ViewerParam = Annotated[
    str,
    Query(
        alias="viewer",
        pattern=VIEWER_ID_PATTERN,
        description="The viewer profile (default: the account's own); unknown: 404",
    ),
]
VideoPath = Annotated[str, Path(pattern=VIDEO_ID_PATTERN, description="The catalogue's video id")]
ViewerPath = Annotated[str, Path(pattern=VIEWER_ID_PATTERN)]
Cursor = Annotated[
    str | None, Query(pattern=POSITION_PATTERN, description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")]
DEFAULT = DEFAULT_VIEWER
