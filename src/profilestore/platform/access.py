"""Route access rules. Every ``/v1`` route depends on exactly one ``Access`` (checked at
start-up), so no route is reachable without a stated rule: deny by default."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from profilestore.platform.auth import ADMIN, SERVICE, Principal
from profilestore.platform.errors import ProblemError, invalid


def unauthorized(detail: str = "A valid bearer token is required.") -> ProblemError:
    return ProblemError(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


ownership_check = True
"""Tests only (tests/integration/test_rls.py): False lets any signed-in caller through the
"user themself" rules, as a bug in this check would, to show what row-level security alone
keeps out. Nothing in the service sets it."""


@dataclass(frozen=True)
class Access:
    """Who may call a route.

    ``owner``: the user named by the ``{user_id}`` path parameter passes. ``roles``: callers with
    any of these roles pass. Others are refused with ``denial``: 404 hides a private resource
    (no existence leak), 403 refuses an action on something the caller may know exists.
    """

    name: str
    description: str
    owner: bool = False
    roles: frozenset[str] = frozenset()
    anyone: bool = False
    denial: int = 403

    async def __call__(self, request: Request) -> Principal:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None:
            raise unauthorized()
        if self.anyone or principal.roles & self.roles:
            return principal
        if self.owner and (principal.user_id == path_user_id(request) or not ownership_check):
            return principal
        if self.denial == 404:
            raise ProblemError(404, "not-found", "The resource does not exist.")
        raise ProblemError(403, "forbidden", f"Not allowed: {self.description}")


def path_user_id(request: Request) -> uuid.UUID:
    raw = request.path_params.get("user_id", "")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise invalid("path.user_id", "Input should be a UUID", "uuid") from None


SIGNED_IN = Access("signed-in", "any signed-in caller", anyone=True)
OWNER_OR_ADMIN = Access(
    "owner-or-admin", "the user themself or an admin", owner=True, roles=frozenset({ADMIN})
)
OWNER_OR_ADMIN_PRIVATE = Access(
    "owner-or-admin-private",
    "the user themself or an admin; a private resource, others get 404",
    owner=True,
    roles=frozenset({ADMIN}),
    denial=404,
)
OWNER_ADMIN_OR_SERVICE_PRIVATE = Access(
    "owner-admin-or-service-private",
    "the user themself, an admin or a service; a private resource, others get 404",
    owner=True,
    roles=frozenset({ADMIN, SERVICE}),
    denial=404,
)
ADMIN_ONLY = Access("admin", "admins only", roles=frozenset({ADMIN}))
ADMIN_OR_SERVICE = Access(
    "admin-or-service", "admin and service roles only", roles=frozenset({ADMIN, SERVICE})
)

# The rules as route parameters (``_: PrivateRead``), shared by every domain.
PrivateRead = Annotated[Principal, Depends(OWNER_ADMIN_OR_SERVICE_PRIVATE)]
PrivateWrite = Annotated[Principal, Depends(OWNER_OR_ADMIN_PRIVATE)]
SignedIn = Annotated[Principal, Depends(SIGNED_IN)]
AdminOnly = Annotated[Principal, Depends(ADMIN_ONLY)]
AdminOrService = Annotated[Principal, Depends(ADMIN_OR_SERVICE)]
