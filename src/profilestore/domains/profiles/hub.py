"""The identity section of the user's aggregate: the profile as the caller may see it (the
whole of it for the user, an admin or a service; what their audience shows others), read through the
same cache as ``GET /v1/profiles/{user_id}``; 404 for a user the caller may not see."""

from __future__ import annotations

import json
from typing import Any

from profilestore.domains.profiles import cached
from profilestore.domains.profiles.api import reach_if_visible
from profilestore.platform.errors import not_found
from profilestore.platform.hub import HubPart, HubRead


async def identity(read: HubRead) -> dict[str, Any] | None:
    state = read.state
    entry, _ = await cached.read_profile(state.db, state.cache, read.user_id)
    reach = await reach_if_visible(state, read.principal, read.user_id) if entry else None
    if entry is None or reach is None:
        raise not_found("profile")
    view = cached.view(entry, reach)
    found: dict[str, Any] = json.loads(view.body)
    return found


PART = HubPart("identity", identity, private=False, anchor=True)
