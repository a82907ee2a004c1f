"""The domain registry: each domain describes itself once (``Domain``) and everything that
lists domains iterates over the installed descriptors: the app's routes, the migration
metadata, the viewer filters that hide one user's data from another, and what happens to
other domains' rows when a user's profile is deleted.

The platform never imports a domain: ``profilestore.domains.registry`` installs them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement, false
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.platform.fastpath import FastRead
from profilestore.platform.graphqlspec import DomainGraph
from profilestore.platform.hub import HubPart
from profilestore.platform.owners import OwnerDirectory, use

ViewerFilter = Callable[[Any, Any], ColumnElement[bool]]
"""``(owner column, viewer)`` → a condition that is true where the viewer may see the owner's
rows (e.g. the social domain: the owner does not block the viewer)."""

HiddenFrom = Callable[[Any, Any, uuid.UUID], Awaitable[frozenset[uuid.UUID]]]
"""``(database, cache, viewer)`` → the users whose data ``viewer`` may not see: the cached
form of a viewer filter, for reads served from the cache."""

IsContact = Callable[[Any, Any], ColumnElement[bool]]
"""``(owner, other)`` (columns or values) → a condition that is true where ``owner`` has
``other`` among their contacts: the ``contacts`` audience of the owner's fields."""

ContactsAmong = Callable[[Any, Any, uuid.UUID, list[uuid.UUID]], Awaitable[frozenset[uuid.UUID]]]
"""``(database, cache, viewer, owners)`` → those of ``owners`` who have ``viewer`` among their
contacts: the cached form of ``IsContact``, for reads served from the cache."""

Configure = Callable[[Any], None]
"""Called with the app as it is built: a domain puts what its routes need on ``app.state``."""

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]
"""Entered while the app serves: a domain's background work (and its clean-up)."""

UserDeleted = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
"""Removes, in the deleting transaction, a domain's rows of or pointing at a deleted user (and
emits the events of each removal)."""

Forget = Callable[[Any, uuid.UUID], Awaitable[None]]
"""``(app, user_id)``: forget what a domain keeps of the user outside the database (presence),
after an erasure committed."""

ProfileChanged = Callable[[AsyncSession, dict[str, Any], list[str]], Awaitable[None]]
"""Called in the transaction of a profile update with the profile as written and the names of
the fields that changed (a domain that keeps data derived from a profile field)."""


@dataclass(frozen=True)
class Domain:
    name: str
    routers: tuple[APIRouter, ...] = ()
    models: tuple[str, ...] = ()
    """Modules that declare the domain's tables (imported for the migration metadata)."""
    viewer_filter: ViewerFilter | None = None
    hidden_from: HiddenFrom | None = None
    is_contact: IsContact | None = None
    contacts_among: ContactsAmong | None = None
    user_deleted: UserDeleted | None = None
    forget: Forget | None = None
    profile_changed: ProfileChanged | None = None
    hub_part: HubPart | None = None
    """The domain's section of the user's aggregate."""
    graphql: DomainGraph | None = None
    """The domain's ``User`` fields, mutations and onboarding steps in GraphQL."""
    export_tables: tuple[str, ...] = ()
    """The domain's tables keyed by ``user_id``: what ``GET .../export`` gives the user."""
    audit_sensitive: tuple[str, ...] = ()
    """``table.column``s whose values the audit log never keeps: it records that they
    changed, not to what (``platform.audit``)."""
    audit_skipped_events: tuple[str, ...] = ()
    """Event types that tell of activity, not of a change of data (presence): not audited."""
    fast_reads: tuple[FastRead, ...] = ()
    configure: Configure | None = None
    lifespan: Lifespan | None = None
    body_limits: dict[str, int] = field(default_factory=dict)
    """Routes (templates) that take larger bodies than ``PROFILESTORE_MAX_BODY_BYTES``, and
    their limit in bytes (a batch write, say)."""
    body_media_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Routes (templates) whose body is not JSON, and the media types they take (an image
    upload); the request pipeline refuses other bodies with 415 before routing."""
    example_bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """A valid request body per write model, for the authorization-matrix test."""
    owners: OwnerDirectory | None = None
    """The owner directory other domains' writes lock and read the timezone from (the
    profiles domain's); without one installed, the platform's ``owners`` table serves."""
    requires: tuple[str, ...] = ()
    """Domains that must be served with this one (its reads embed theirs)."""


_installed: list[Domain] = []


def install(domains: tuple[Domain, ...]) -> None:
    """Make ``domains`` the installed set (idempotent; the app factory calls it), with the
    owner directory one of them provides (or the platform's own)."""
    _installed[:] = domains
    use(next((d.owners for d in domains if d.owners is not None), None))


def installed() -> tuple[Domain, ...]:
    return tuple(_installed)


def viewer_filters(owner: Any, viewer: Any) -> list[ColumnElement[bool]]:
    return [d.viewer_filter(owner, viewer) for d in _installed if d.viewer_filter is not None]


async def hidden_from(db: Any, cache: Any, viewer: uuid.UUID) -> frozenset[uuid.UUID]:
    """Users whose data ``viewer`` may not see, by every installed domain's rule."""
    hidden: frozenset[uuid.UUID] = frozenset()
    for domain in _installed:
        if domain.hidden_from is not None:
            hidden |= await domain.hidden_from(db, cache, viewer)
    return hidden


def is_contact(owner: Any, other: Any) -> ColumnElement[bool]:
    """True where ``owner`` has ``other`` among their contacts (never, without a domain that
    keeps contacts)."""
    for domain in _installed:
        if domain.is_contact is not None:
            return domain.is_contact(owner, other)
    return false()


async def contacts_among(
    db: Any, cache: Any, viewer: uuid.UUID, owners: list[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Those of ``owners`` who have ``viewer`` among their contacts."""
    for domain in _installed:
        if domain.contacts_among is not None:
            return await domain.contacts_among(db, cache, viewer, owners)
    return frozenset()


def body_limits() -> dict[str, int]:
    return {path: limit for domain in _installed for path, limit in domain.body_limits.items()}


def body_media_types() -> dict[str, tuple[str, ...]]:
    return {path: types for domain in _installed for path, types in domain.body_media_types.items()}


def fast_reads() -> tuple[FastRead, ...]:
    return tuple(read for domain in _installed for read in domain.fast_reads)


async def user_deleted(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Every installed domain removes the user's rows, the dependent domains first (social's
    rows point at profiles: they go, with their events, before the profile row)."""
    for domain in reversed(_installed):
        if domain.user_deleted is not None:
            await domain.user_deleted(session, user_id)


async def forget(app: Any, user_id: uuid.UUID) -> None:
    for domain in _installed:
        if domain.forget is not None:
            await domain.forget(app, user_id)


async def profile_changed(
    session: AsyncSession, profile: dict[str, Any], changed: list[str]
) -> None:
    for domain in _installed:
        if domain.profile_changed is not None:
            await domain.profile_changed(session, profile, changed)


def hub_parts() -> tuple[HubPart, ...]:
    return tuple(d.hub_part for d in _installed if d.hub_part is not None)
