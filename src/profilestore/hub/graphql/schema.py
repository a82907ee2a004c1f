"""The GraphQL schema, built from every domain's ``DomainGraph`` (``platform.graphqlspec``).

``User`` has an ``id`` and one field per declared ``GraphField``; each field calls its REST
route for the caller (``dispatch``), so the rules are the routes' own. Fields a domain marks
``batch`` are loaded per request with a DataLoader (one call for any number of users);
item fields that hold a user id (``links``) lead to a ``PublicUser`` carrying those fields."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from profilestore.hub.graphql import onboarding
from profilestore.hub.graphql.context import GraphContext, UserRef
from profilestore.hub.graphql.dispatch import raise_for_problem
from profilestore.hub.graphql.typegen import (
    SCALAR_MAP,
    UUID,
    argument_type,
    input_body,
    input_type,
    output_type,
    python_name,
)
from profilestore.platform.graphqlspec import DomainGraph, GraphField, GraphMutation
from profilestore.platform.registry import Domain

Resolver = Callable[..., Awaitable[Any]]
FEDERATION_VERSION: Literal["2.7"] = "2.7"
"""The federation spec the subgraphs link: understood by Apollo Router and Hive Gateway."""


@strawberry.type(description="Where a page ends and whether another follows")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def resolve_attribute(value: Any, name: str) -> Any:
    """Fields of REST answers (dicts) by name; ``from_`` reads ``from``."""
    if isinstance(value, dict):
        return value.get(name, value.get(name.rstrip("_")))
    return getattr(value, name)


@strawberry.federation.type(shareable=True, name="PageInfo")
class SharedPageInfo:
    """``PageInfo`` in a federation subgraph: the same value type in every subgraph."""

    has_next_page: bool
    end_cursor: str | None


@dataclass
class _Builder:
    """Builds the hub's schema (every domain, ``User`` with ``PublicUser`` links) or, with
    ``federated``, one domain's subgraph (``User`` an entity keyed by ``id``; links lead to
    ``User`` itself, which the gateway completes from the other subgraphs)."""

    domains: tuple[Domain, ...]
    federated: bool = False

    def __post_init__(self) -> None:
        self.connections: dict[str, type] = {}
        self.batched = [
            (graph, f) for graph in self.graphs for f in graph.fields if f.batch is not None
        ]

    @property
    def graphs(self) -> list[DomainGraph]:
        return [d.graphql for d in self.domains if d.graphql is not None]

    def public_user(self) -> type:
        namespace: dict[str, Any] = {"__annotations__": {"id": UUID}}
        namespace["id"] = strawberry.field(resolver=_user_id, graphql_type=UUID)
        for graph, spec in self.batched:
            namespace[spec.name] = self.field(graph, spec, None)
        cls = type("PublicUser", (), namespace)
        return strawberry.type(cls, description="Another user as the caller may see them")

    def user(self, link_target: Any) -> type:
        namespace: dict[str, Any] = {"__annotations__": {}}
        namespace["id"] = strawberry.field(resolver=_user_id, graphql_type=UUID)
        for graph in self.graphs:
            for spec in graph.fields:
                namespace[spec.name] = self.field(graph, spec, link_target)
        description = "A user: each field from its own domain"
        if not self.federated:
            return strawberry.type(type("User", (), namespace), description=description)
        namespace["resolve_reference"] = classmethod(_reference)
        namespace["is_type_of"] = classmethod(lambda cls, value, info: isinstance(value, UserRef))
        cls = type("User", (), namespace)
        return strawberry.federation.type(cls, keys=["id"], description=description)

    def field(self, graph: DomainGraph, spec: GraphField, link_target: Any) -> Any:
        item = output_type(spec.model, partial=spec.batch is not None)
        if spec.links and link_target is not None:
            item = self.linked(spec, link_target)
        kind: Any = self.connection(spec, item) if spec.page else item
        resolver = _field_resolver(graph.part, spec, kind)
        return strawberry.field(resolver=resolver, description=spec.description or None)

    def linked(self, spec: GraphField, link_target: Any) -> type:
        base = output_type(spec.model)
        namespace: dict[str, Any] = {"__annotations__": {}}
        for source, name in spec.links:
            namespace[name] = strawberry.field(
                resolver=_link_resolver(source, link_target), graphql_type=link_target | None
            )
        cls = type(base.__name__, (base,), namespace)
        return strawberry.type(cls)

    def connection(self, spec: GraphField, item: type) -> type:
        name = f"{item.__name__}Connection"
        if name not in self.connections:
            page_info = SharedPageInfo if self.federated else PageInfo
            namespace = {
                "__annotations__": {"nodes": list[item], "page_info": page_info},  # type: ignore[valid-type]
            }
            cls = type(name, (), namespace)
            self.connections[name] = strawberry.type(cls, description=f"A page of {item.__name__}")
        return self.connections[name]


def _reference(cls: type, id: str) -> UserRef:
    return UserRef(_uuid(id))


def _user_id(root: UserRef) -> str:
    return str(root.id)


def _link_resolver(source: str, link_target: Any) -> Resolver:
    async def resolve(root: Any) -> UserRef | None:
        raw = resolve_attribute(root, source)
        return UserRef(uuid.UUID(str(raw))) if raw else None

    resolve.__annotations__ = {"root": Any, "return": link_target | None}
    return resolve


def _field_resolver(part: str, spec: GraphField, kind: Any) -> Resolver:
    async def resolve(root: UserRef, info: strawberry.Info, **arguments: Any) -> Any:
        context: GraphContext = info.context
        if spec.private and not context.sees_private(root.id):
            return None
        if spec.batch is not None:
            return await context.loader(part, spec).load(root.id)
        query = {arg.parameter: arguments.get(python_name(arg.name)) for arg in spec.arguments}
        if spec.page:
            query |= {"limit": arguments.get("first"), "cursor": arguments.get("after")}
        path = spec.path.format(user_id=root.id)
        answer = await context.dispatch.call(part, "GET", path, query=query)
        if answer.status == 404:
            return None
        raise_for_problem(answer)
        value = spec.pick(answer.body) if spec.pick else answer.body
        return _page(value) if spec.page else value

    parameters = [
        inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
        ),
    ]
    annotations: dict[str, Any] = {"info": strawberry.Info, "return": kind | None}
    arguments = [(arg.name, argument_type(arg.type), arg.description) for arg in spec.arguments]
    if spec.page:
        arguments += [("first", int, "Items on the page"), ("after", str, "The page's cursor")]
    for name, kind_of, description in arguments:
        annotation = Annotated[
            kind_of | None,  # type: ignore[valid-type]
            strawberry.argument(name=name, description=description or None),
        ]
        parameter = inspect.Parameter(
            python_name(name), inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
        )
        parameters.append(parameter)
        annotations[python_name(name)] = annotation
    resolve.__signature__ = inspect.Signature(parameters, return_annotation=kind | None)  # type: ignore[attr-defined]
    resolve.__annotations__ = annotations
    return resolve


def _page(value: dict[str, Any]) -> dict[str, Any]:
    cursor = value.get("next_cursor")
    return {
        "nodes": value.get("items", []),
        "page_info": {"has_next_page": cursor is not None, "end_cursor": cursor},
    }


def _mutation_resolver(part: str, spec: GraphMutation, output: type, given: type) -> Resolver:
    async def resolve(info: strawberry.Info, user_id: str, input: Any) -> Any:
        context: GraphContext = info.context
        body = input_body(input)
        path = spec.path.format(user_id=_uuid(user_id))
        answer = await context.dispatch.call(part, spec.method, path, body=body)
        raise_for_problem(answer)
        return answer.body

    resolve.__annotations__ = {
        "info": strawberry.Info,
        "user_id": Annotated[UUID, strawberry.argument(name="userId")],
        "input": given,
        "return": output,
    }
    return resolve


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise GraphQLError(
            "userId must be a UUID.", extensions={"code": "validation-failed", "status": 422}
        ) from None


def build_schema(
    domains: tuple[Domain, ...], extensions: list[Callable[[], SchemaExtension]]
) -> strawberry.Schema:
    """The hub's schema: every domain's fields, mutations and ``createUserProfile``."""
    builder = _Builder(domains)
    user = builder.user(builder.public_user())
    mutations = _mutations(builder)
    mutations["create_user_profile"] = onboarding.create_user_profile_field(builder.graphs, user)
    return strawberry.Schema(
        query=_query(user, federated=False),
        mutation=strawberry.type(type("Mutation", (), mutations)),
        extensions=extensions,
        config=StrawberryConfig(default_resolver=resolve_attribute, scalar_map=SCALAR_MAP),
    )


def build_subgraph(
    domains: tuple[Domain, ...], extensions: list[Callable[[], SchemaExtension]] | None = None
) -> strawberry.federation.Schema:
    """An Apollo Federation v2 subgraph of ``domains``: ``User @key(fields: "id")`` with their
    fields, the shareable ``me`` and ``user``, and their mutations (``_service`` and
    ``_entities`` for the gateway come with it)."""
    from profilestore.hub.graphql import federation

    builder = _Builder(domains, federated=True)
    user = builder.user(federation.USER_REFERENCE)
    federation.User = user  # read while the schema below is built, by the lazy reference
    mutations = _mutations(builder)
    return strawberry.federation.Schema(
        query=_query(user, federated=True),
        mutation=strawberry.type(type("Mutation", (), mutations)) if len(mutations) > 1 else None,
        types=[user],
        extensions=extensions or (),
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(default_resolver=resolve_attribute, scalar_map=SCALAR_MAP),
    )


def _mutations(builder: _Builder) -> dict[str, Any]:
    fields: dict[str, Any] = {"__annotations__": {}}
    for graph in builder.graphs:
        for spec in graph.mutations:
            output = output_type(spec.model)
            given = input_type(spec.input_model)
            fields[spec.name] = strawberry.field(
                resolver=_mutation_resolver(graph.part, spec, output, given),
                description=spec.description or None,
            )
    return fields


def _query(user: type, *, federated: bool) -> type:
    async def me(info: strawberry.Info) -> UserRef | None:
        principal = info.context.principal
        return UserRef(principal.user_id) if principal.user_id is not None else None

    async def one_user(info: strawberry.Info, id: str) -> UserRef | None:
        context: GraphContext = info.context
        ref = UserRef(_uuid(id))
        if not await context.user_exists(ref.id):
            raise GraphQLError("The user does not exist.", extensions={"code": "not-found"})
        return ref

    me.__annotations__ = {"info": strawberry.Info, "return": user | None}
    one_user.__annotations__ = {
        "info": strawberry.Info,
        "id": Annotated[UUID, strawberry.argument(name="id")],
        "return": user | None,
    }
    field: Any = strawberry.federation.field if federated else strawberry.field
    shared: dict[str, Any] = {"shareable": True} if federated else {}
    namespace = {
        "__annotations__": {},
        "me": field(resolver=me, description="The caller", **shared),
        "user": field(resolver=one_user, description="A user by id", **shared),
    }
    return strawberry.type(type("Query", (), namespace))
