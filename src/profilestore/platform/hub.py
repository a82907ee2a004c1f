"""What a domain contributes to the user's aggregate (``GET /v1/users/{user_id}/profiles``):
one ``HubPart`` in its descriptor, loaded with a ``HubRead``. The hub (``profilestore.hub``)
runs them; a domain added later is aggregated without touching the hub."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.auth import Principal


@dataclass(frozen=True)
class HubRead:
    """One part's read: the app's state (database, cache), its own read session, the caller
    and the user the aggregate is about."""

    state: Any
    session: AsyncSession
    principal: Principal
    user_id: uuid.UUID

    @property
    def sees_private(self) -> bool:
        """The user themself, an admin or a service: who may read a private part."""
        principal = self.principal
        return principal.owns(self.user_id) or principal.is_admin or principal.is_service


@dataclass(frozen=True)
class HubPart:
    """``load`` answers the part's section, or None when the domain holds nothing of the user.
    A ``private`` part is read only for the user, an admin or a service (others get null and
    are not told whether there is data). ``anchor``: the part that decides whether the user
    exists for the caller (its ``not-found`` makes the whole aggregate a 404)."""

    name: str
    load: Callable[[HubRead], Awaitable[dict[str, Any] | None]]
    private: bool = True
    anchor: bool = False
