"""What a domain contributes to the GraphQL API, declared next to its REST routes.

GraphQL is a view over the REST routes, not a second implementation: each field of the
``User`` type and each mutation names the route that serves it, and the hub's GraphQL layer
(``profilestore.hub.graphql``) calls that route (in process, or over HTTP when the domain is
served elsewhere) with the caller's identity. Access rules, validation, caching and events
are therefore those of the route. A domain added later appears in GraphQL by declaring its
``DomainGraph`` in its descriptor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class GraphArg:
    """A GraphQL argument sent as the route's query parameter ``query`` (default: ``name``)."""

    name: str
    type: Any
    description: str = ""
    query: str | None = None

    @property
    def parameter(self) -> str:
        return self.query or self.name


@dataclass(frozen=True)
class GraphField:
    """A field of ``User`` read with ``GET path`` (``{user_id}`` is the user's id).

    ``page``: the route answers ``{"items", "next_cursor"}`` and takes ``cursor`` and
    ``limit``: the field is a connection with ``first`` and ``after``. ``pick`` turns the
    route's answer into the field's value (the active goal of the goal list, say).
    ``private``: only the user, an admin or a service can read it (others get null without
    a call). ``links``: fields of the answer's items that hold a user id, and the name of the
    field to add beside them, a ``PublicUser`` with the batched fields. ``batch``: a route
    (``GET batch?ids=a,b``, answering ``{"items": [...]}`` with ``user_id`` in each) that reads
    this field for many users in one call: the field is loaded per request with a DataLoader,
    and a user whose item is missing does not exist for the caller."""

    name: str
    path: str
    model: type[BaseModel]
    description: str = ""
    arguments: tuple[GraphArg, ...] = ()
    page: bool = False
    private: bool = True
    pick: Callable[[Any], Any] | None = None
    links: tuple[tuple[str, str], ...] = ()
    batch: str | None = None


@dataclass(frozen=True)
class GraphMutation:
    """A mutation that sends ``input`` (the fields of ``input_model``) to ``method path`` for the
    user named by the ``userId`` argument and answers the route's body as ``model``."""

    name: str
    method: str
    path: str
    input_model: type[BaseModel]
    model: type[BaseModel]
    description: str = ""


@dataclass(frozen=True)
class OnboardingStep:
    """One part of ``createUserProfile``: ``PUT path`` with the input's ``name`` section."""

    name: str
    path: str
    input_model: type[BaseModel]
    required: bool = False


@dataclass(frozen=True)
class DomainGraph:
    """A domain's GraphQL: ``User`` fields, mutations and onboarding steps. ``part`` is the
    domain's name in the hub (``PROFILESTORE_HUB_DOMAINS``), which decides where its routes run."""

    part: str
    fields: tuple[GraphField, ...] = ()
    mutations: tuple[GraphMutation, ...] = ()
    onboarding: tuple[OnboardingStep, ...] = ()
