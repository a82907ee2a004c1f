"""The domain registry: each domain describes itself once (``Domain``) and everything that
lists domains iterates over the installed descriptors: the app's routes, the migration
metadata, the viewer filters that hide one user's data from another, and what happens to
other domains' rows when a user's profile is deleted.

The platform never imports a domain: ``profilestore.domains.registry`` installs them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

ViewerFilter = Callable[[Any, Any], ColumnElement[bool]]
"""``(owner column, viewer)`` → a condition that is true where the viewer may see the owner's
rows (e.g. the social domain: the owner does not block the viewer)."""

UserDeleted = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
"""Removes, in the deleting transaction, a domain's rows of or pointing at a deleted user (and
emits the events of each removal)."""


@dataclass(frozen=True)
class Domain:
    name: str
    routers: tuple[APIRouter, ...] = ()
    models: tuple[str, ...] = ()
    """Modules that declare the domain's tables (imported for the migration metadata)."""
    viewer_filter: ViewerFilter | None = None
    user_deleted: UserDeleted | None = None
    example_bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """A valid request body per write model, for the authorization-matrix test."""


_installed: list[Domain] = []


def install(domains: tuple[Domain, ...]) -> None:
    """Make ``domains`` the installed set (idempotent; the app factory calls it)."""
    _installed[:] = domains


def installed() -> tuple[Domain, ...]:
    return tuple(_installed)


def viewer_filters(owner: Any, viewer: Any) -> list[ColumnElement[bool]]:
    return [d.viewer_filter(owner, viewer) for d in _installed if d.viewer_filter is not None]


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    for domain in _installed:
        if domain.user_deleted is not None:
            await domain.user_deleted(session, user_id)
