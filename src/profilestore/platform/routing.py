"""Route-table passes applied once at start-up."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from profilestore.platform.errors import FieldError, ProblemError
from profilestore.platform.types import clean_text


def query_parameters(dependant: Dependant) -> dict[str, bool]:
    """The query parameters a route declares (its dependencies' included), each with whether
    it may repeat (a list-typed parameter)."""
    found = {
        param.alias: _is_collection(param.field_info.annotation) for param in dependant.query_params
    }
    for dependency in dependant.dependencies:
        found |= query_parameters(dependency)
    return found


def _is_collection(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(
        get_origin(option) in (list, set, tuple, frozenset) for option in (annotation, *options)
    )


def refuse_unknown_query_parameters(app: FastAPI) -> None:
    """An API route answers 422 to a query parameter it does not declare (a typo such as
    ``?limt=10`` is reported, not silently ignored) and to a single-valued one given twice
    (``?username=a&username=b`` is ambiguous). Checked only when there is a query."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/v1/"):
            inner = route.app
            while isinstance(inner, _StrictQuery):  # a route shared by apps built before
                inner = inner.app
            route.app = _StrictQuery(inner, query_parameters(route.dependant))


class _StrictQuery:
    def __init__(self, app: ASGIApp, parameters: dict[str, bool]) -> None:
        self.app = app
        self.parameters = parameters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            errors = self._errors([name for name, _ in pairs]) + _text_errors(query)
            if errors:
                raise ProblemError(
                    422, "validation-failed", "The request is not valid.", errors=errors
                )
        await self.app(scope, receive, send)

    def _errors(self, names: list[str]) -> list[FieldError]:
        known = ", ".join(sorted(self.parameters)) or "none"
        errors = []
        for name in sorted(set(names)):
            if name not in self.parameters:
                message = f"Unknown query parameter (this route takes: {known})"
                errors.append(FieldError(field=f"query.{name}", message=message, code="unknown"))
            elif names.count(name) > 1 and not self.parameters[name]:
                message = "Give this query parameter once"
                errors.append(FieldError(field=f"query.{name}", message=message, code="repeated"))
        return errors


def _text_errors(query: bytes) -> list[FieldError]:
    """Every query value obeys the text rule (``platform.types``): no control characters, no
    lone surrogates, valid UTF-8. A database would refuse some of them with an error of its own."""
    errors = []
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    for name, value in pairs:
        try:
            clean_text(value.encode("latin-1").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            message = "must be UTF-8 text without control characters"
            errors.append(FieldError(field=f"query.{name}", message=message, code="text"))
    return errors
