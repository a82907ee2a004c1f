"""GraphQL types generated from the REST models, so that each shape is declared once.

Output types follow a route's response model (a field that is optional there is nullable
here); input types follow a write model with every field optional, because the route
validates the body (a missing required field is the route's 422, reported as a GraphQL error
with its field). Literal choices are strings (the route refuses others); dates and times are
ISO strings in custom ``Date`` / ``DateTime`` scalars; free JSON objects are ``JSON``."""

from __future__ import annotations

import datetime as dt
import enum
import keyword
import types
import typing
import uuid
from decimal import Decimal
from typing import Any, NewType

import strawberry
from pydantic import AnyUrl, BaseModel
from strawberry.scalars import JSON

DateTime = NewType("DateTime", str)
Date = NewType("Date", str)
UUID = NewType("UUID", str)
SCALAR_MAP: dict[object, Any] = {
    DateTime: strawberry.scalar(
        name="DateTime", description="An RFC 3339 date and time", serialize=str, parse_value=str
    ),
    Date: strawberry.scalar(
        name="Date", description="An ISO 8601 date (YYYY-MM-DD)", serialize=str, parse_value=str
    ),
    UUID: strawberry.scalar(name="UUID", description="A UUID", serialize=str, parse_value=str),
}
"""The scalars of REST answers: kept as the strings the routes write and read."""

_SCALARS: dict[Any, Any] = {
    str: str,
    int: int,
    float: float,
    Decimal: float,
    bool: bool,
    dt.datetime: DateTime,
    dt.date: Date,
    uuid.UUID: UUID,
}
_outputs: dict[tuple[type[BaseModel], bool], type] = {}
_inputs: dict[type[BaseModel], type] = {}


def python_name(name: str) -> str:
    """A field name usable as a Python attribute (``from`` -> ``from_``)."""
    return f"{name}_" if keyword.iskeyword(name) else name


def output_type(model: type[BaseModel], *, partial: bool = False) -> type:
    """The GraphQL object type of ``model`` (every field nullable when ``partial``: a model
    whose answer may leave fields out, such as a profile's public view)."""
    key = (model, partial)
    if key not in _outputs:
        name = model.__name__ + ("View" if partial else "")
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {"__annotations__": annotations}
        for field_name, info in model.model_fields.items():
            graph_name = info.alias or field_name
            attribute = python_name(graph_name)
            kind = _graph(info.annotation, output=True)
            if partial or not info.is_required() or _nullable(info.annotation):
                kind = kind | None
            annotations[attribute] = kind
            namespace[attribute] = strawberry.field(
                name=_camel(graph_name), description=info.description
            )
        cls = type(name, (), namespace)
        _outputs[key] = strawberry.type(cls, description=model.__doc__)
    return _outputs[key]


def input_type(model: type[BaseModel]) -> type:
    """The GraphQL input type of a write model: every field optional (the route validates)."""
    if model not in _inputs:
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {"__annotations__": annotations}
        for field_name, info in model.model_fields.items():
            graph_name = info.alias or field_name
            attribute = python_name(graph_name)
            annotations[attribute] = _graph(info.annotation, output=False) | None
            namespace[attribute] = strawberry.field(
                name=_camel(graph_name), description=info.description, default=strawberry.UNSET
            )
        cls = type(model.__name__ + "Input", (), namespace)
        _inputs[model] = strawberry.input(cls)
    return _inputs[model]


def input_body(value: Any) -> Any:
    """The JSON body of an input object: the fields given (an explicit null stays null)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [input_body(item) for item in value]
    if isinstance(value, dict):
        return value
    body: dict[str, Any] = {}
    for name, item in vars(value).items():
        if item is strawberry.UNSET:
            continue
        key = name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name
        body[key] = input_body(item)
    return body


def argument_type(annotation: Any) -> Any:
    """The GraphQL type of an argument declared with a Python type."""
    return _graph(annotation, output=False)


def _graph(annotation: Any, *, output: bool) -> Any:
    """The GraphQL type of a (pydantic) annotation, without its nullability."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _graph(arguments[0], output=output)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in arguments if a is not type(None)]
        return _graph(members[0], output=output) if len(members) == 1 else JSON
    if origin is typing.Literal:
        return str
    if origin in (list, tuple, set, frozenset):
        return list[_graph(arguments[0], output=output)] if arguments else JSON  # type: ignore[misc]
    if origin is dict or annotation in (dict, Any):
        return JSON
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return output_type(annotation) if output else input_type(annotation)
        if issubclass(annotation, enum.Enum | AnyUrl):
            return str
        for python_type, graph in _SCALARS.items():
            if issubclass(annotation, python_type):
                return graph
    return JSON


def _nullable(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        return _nullable(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return type(None) in typing.get_args(annotation)
    return annotation is None or annotation is Any


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
