"""Apollo Federation v2 subgraphs: one per domain in SDL (``profilestore graphql sdl --domain
X``), and served at ``/graphql/subgraph`` by every process over the domains it serves.

A subgraph's ``User`` refers to itself (a contact's ``user``): the reference is lazy, by name
in this module, where ``schema.build_subgraph`` puts the ``User`` it is building."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from profilestore.platform.registry import Domain

User: Any = None
USER_REFERENCE: Any = Annotated["User", strawberry.lazy("profilestore.hub.graphql.federation")]


def subgraph_sdl(domain: Domain) -> str:
    """The domain's subgraph schema in SDL, with its ``@link`` to federation v2."""
    from profilestore.hub.graphql.schema import build_subgraph

    return str(build_subgraph((domain,)).as_str())
