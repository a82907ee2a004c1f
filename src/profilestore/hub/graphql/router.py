"""``/graphql``: Strawberry's FastAPI router over the schema of every installed domain.

Queries may be sent with GET (persisted-query friendly, cacheable by a CDN keyed on the
URL); mutations only with POST. The request pipeline authenticates ``/graphql`` as it does
``/v1`` (the GraphiQL page itself, served in development only, needs no token)."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from fastapi import Request
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.fastapi import GraphQLRouter

from profilestore.hub.graphql.context import GraphContext
from profilestore.hub.graphql.dispatch import Dispatcher
from profilestore.hub.graphql.limits import cost_rule
from profilestore.hub.graphql.schema import build_schema, build_subgraph
from profilestore.platform.access import unauthorized
from profilestore.platform.http import GRAPHQL_PATH
from profilestore.platform.registry import Domain
from profilestore.settings import Settings

MAX_TOKENS = 10_000
MAX_ALIASES = 50
DOCUMENT_CACHE = 1000
"""Parsed and validated documents kept (by their text): an app sends the same few operations
again and again, and validating one costs more than running it."""


_schemas: dict[tuple[Any, ...], strawberry.Schema] = {}
SUBGRAPH_PATH = f"{GRAPHQL_PATH}/subgraph"


def schema_for(
    domains: tuple[Domain, ...],
    max_depth: int,
    max_cost: int,
    introspection: bool,
    *,
    subgraph: bool = False,
) -> strawberry.Schema:
    """The hub's schema, or the federation subgraph of ``domains`` (built once per set of
    domains and limits: building takes ~100 ms)."""
    key = (tuple(d.name for d in domains), max_depth, max_cost, introspection, subgraph)
    if key not in _schemas:
        extensions = _extensions(max_depth, max_cost, introspection)
        build = build_subgraph if subgraph else build_schema
        _schemas[key] = build(domains, extensions)
    return _schemas[key]


def _extensions(max_depth: int, max_cost: int, introspection: bool) -> list[Any]:
    rules: list[Any] = [
        cost_rule(max_cost),
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(MAX_ALIASES).validation_rules,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    # The rule classes are made once: the validation cache is keyed by them.
    extensions: list[Any] = [
        lambda: ParserCache(maxsize=DOCUMENT_CACHE),
        lambda: MaxTokensLimiter(MAX_TOKENS),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE),
    ]
    return extensions


def graphql_routers(
    domains: tuple[Domain, ...], served: tuple[Domain, ...], settings: Settings
) -> list[GraphQLRouter[Any, Any]]:
    """``/graphql`` over ``domains`` (served here or reached elsewhere) and, when this
    process serves any GraphQL domain, ``/graphql/subgraph``: the federation subgraph of the
    domains it serves, for a gateway."""
    routers = [_router(domains, settings, GRAPHQL_PATH, subgraph=False)]
    own = tuple(d for d in served if d.graphql is not None)
    if own:
        routers.append(_router(own, settings, SUBGRAPH_PATH, subgraph=True))
    return routers


def _router(
    domains: tuple[Domain, ...], settings: Settings, path: str, *, subgraph: bool
) -> GraphQLRouter[Any, Any]:
    production = settings.environment == "production"
    limits = (settings.graphql_max_depth, settings.graphql_max_cost, not production)
    schema = schema_for(domains, *limits, subgraph=subgraph)
    anchor = next(
        ((g.part, f) for d in domains if (g := d.graphql) for f in g.fields if f.batch),
        None,
    )

    async def context(request: Request) -> GraphContext:
        principal = request.scope.get("state", {}).get("principal")
        if principal is None and not is_ide_page(request.method, request.url.query):
            raise unauthorized()
        state = request.app.state
        remotes = getattr(state, "hub_remotes", None)
        budget = state.settings.hub_timeout_ms / 1000
        dispatch = Dispatcher(request, remotes, asyncio.get_running_loop().time() + budget)
        return GraphContext(principal, dispatch, anchor, state.settings.batch_max_ids)

    return GraphQLRouter(
        schema,
        path=path,
        graphql_ide=None if production or subgraph else "graphiql",
        allow_queries_via_get=True,
        context_getter=context,
        include_in_schema=False,
    )


def is_ide_page(method: str, query_string: str) -> bool:
    """A GET of ``/graphql`` without a query: the GraphiQL page (no token needed)."""
    return method == "GET" and "query=" not in query_string
