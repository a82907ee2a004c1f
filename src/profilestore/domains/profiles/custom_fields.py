"""Custom typed profile fields: the operator declares the app's own profile fields in a YAML
file (``PROFILESTORE_PROFILE_SCHEMA``, docs/profile-schema.md); their values live in the
profile row's ``fields`` column.

Each declared field becomes one pydantic type (``FieldSpec.annotation``): the write path
validates values with it and the OpenAPI document describes ``fields`` with it, so the two
cannot disagree. Values stored under names the schema no longer declares are kept on every
write and never shown; ``profilestore schema check`` reports them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from profilestore.platform.errors import validation_problem

FieldType = Literal["string", "integer", "number", "boolean", "date", "list"]
Visibility = Literal["public", "contacts", "private"]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_FIELDS = 100
MAX_STRING_LENGTH = 10_000
DEFAULT_MAX_LENGTH = 1_000
MAX_ENUM_VALUES = 200
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_RULES: dict[str, frozenset[str]] = {
    "string": frozenset({"min_length", "max_length", "pattern", "enum"}),
    "integer": frozenset({"min", "max", "unit"}),
    "number": frozenset({"min", "max", "unit"}),
    "boolean": frozenset(),
    "date": frozenset(),
    "list": frozenset({"enum", "max_items"}),
}
_RULE_NAMES = frozenset().union(*_RULES.values())
EnumValue = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]


class SchemaError(ValueError):
    """A profile schema file that cannot be used; the message names the file, the field and
    the problem."""


class FieldSpec(BaseModel):
    """One declared field: its type, its rules and who sees it (``visibility``, the default
    audience of its value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    type: FieldType
    required: StrictBool = False
    visibility: Visibility = "private"
    description: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None
    min_length: StrictInt | None = Field(None, ge=0, le=MAX_STRING_LENGTH)
    max_length: StrictInt | None = Field(None, ge=1, le=MAX_STRING_LENGTH)
    pattern: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None
    enum: tuple[EnumValue, ...] | None = Field(None, min_length=1, max_length=MAX_ENUM_VALUES)
    min: StrictInt | StrictFloat | None = None
    max: StrictInt | StrictFloat | None = None
    unit: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None
    max_items: StrictInt | None = Field(None, ge=1, le=MAX_ENUM_VALUES)

    @model_validator(mode="after")
    def _rules_fit_type(self) -> FieldSpec:
        given = {rule for rule in _RULE_NAMES if getattr(self, rule) is not None}
        misplaced = sorted(given - _RULES[self.type])
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)}: not a rule of the {self.type} type")
        _check_bounds(self)
        return self

    def annotation(self) -> Any:
        """The pydantic type of the field's values (its rules and its description)."""
        base = _BUILDERS[self.type](self)
        return Annotated[base, Field(description=self.describe())]

    def describe(self) -> str:
        """The field's documentation: description, unit, audience and whether it is required."""
        parts = [self.description] if self.description else []
        if self.unit:
            parts.append(f"Unit: {self.unit}.")
        parts.append(f"Visible to: {self.visibility}.")
        if self.required:
            parts.append("Required (cannot be removed once set).")
        return " ".join(parts)


def _check_bounds(spec: FieldSpec) -> None:
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        raise ValueError("min must not be greater than max")
    if spec.type == "integer" and any(isinstance(v, float) for v in (spec.min, spec.max)):
        raise ValueError("min and max of an integer field must be whole numbers")
    lengths = (spec.min_length, spec.max_length)
    if lengths[0] is not None and lengths[1] is not None and lengths[0] > lengths[1]:
        raise ValueError("min_length must not be greater than max_length")
    if spec.enum is not None and len(set(spec.enum)) != len(spec.enum):
        raise ValueError("enum: values must not repeat")
    if spec.type == "list" and spec.enum is None:
        raise ValueError("enum: a list field needs the values its items may take")
    if spec.type == "string" and spec.enum is not None and spec.pattern is not None:
        raise ValueError("give either enum or pattern, not both")
    if spec.pattern is not None:
        _check_pattern(spec.pattern)


def _check_pattern(pattern: str) -> None:
    """Patterns are matched by pydantic's regular expression engine (Rust ``regex``: no
    look-around or back-references, linear time); one it cannot compile is refused here."""
    checked: Any = Annotated[str, StringConstraints(pattern=pattern)]
    try:
        TypeAdapter(checked).validate_python("")
    except ValidationError:
        return
    except Exception as exc:  # pydantic raises SchemaError with the engine's message
        reason = " ".join(str(exc).split())
        raise ValueError(f"pattern: not a usable regular expression ({reason})") from None


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _calendar_date(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a calendar date (YYYY-MM-DD)") from None
    return value


def _no_repeats(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("items must not repeat")
    return values


def _string(spec: FieldSpec) -> Any:
    if spec.enum is not None:
        return Literal[spec.enum]
    constraints = StringConstraints(
        strict=True,
        min_length=spec.min_length,
        max_length=spec.max_length or DEFAULT_MAX_LENGTH,
        pattern=spec.pattern,
    )
    return Annotated[str, constraints, AfterValidator(_no_control_characters)]


def _integer(spec: FieldSpec) -> Any:
    return Annotated[int, Field(strict=True, ge=spec.min, le=spec.max)]


def _number(spec: FieldSpec) -> Any:
    return Annotated[float, Field(strict=True, ge=spec.min, le=spec.max, allow_inf_nan=False)]


def _boolean(_: FieldSpec) -> Any:
    return StrictBool


def _date(_: FieldSpec) -> Any:
    return Annotated[
        str,
        StringConstraints(strict=True, pattern=DATE_PATTERN),
        AfterValidator(_calendar_date),
        Field(json_schema_extra={"format": "date"}),
    ]


def _list(spec: FieldSpec) -> Any:
    assert spec.enum is not None  # checked by FieldSpec
    limit = spec.max_items or len(spec.enum)
    item: Any = Literal[spec.enum]
    return Annotated[
        list[item],
        Field(strict=True, max_length=limit, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_no_repeats),
    ]


_BUILDERS = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "list": _list,
}


@dataclass(frozen=True)
class ProfileSchema:
    """The declared fields by name (empty: no custom fields), and the file they came from."""

    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    source: str | None = None

    @cached_property
    def _adapters(self) -> dict[str, TypeAdapter[Any]]:
        return {name: TypeAdapter(spec.annotation()) for name, spec in self.fields.items()}

    def required(self) -> Iterator[FieldSpec]:
        return (spec for spec in self.fields.values() if spec.required)

    def errors(self, name: str, value: Any) -> list[dict[str, Any]]:
        """Pydantic's errors of ``value`` as the declared field ``name`` (none: it passes)."""
        try:
            self._adapters[name].validate_python(value)
        except ValidationError as exc:
            return [dict(error) for error in exc.errors()]
        return []

    def shown(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The stored values of declared fields (what a full view shows), in schema order."""
        return {name: values[name] for name in self.fields if values.get(name) is not None}

    def json_schema(self, *, writing: bool) -> JsonSchemaValue:
        """The JSON schema of ``fields`` in a write body (required fields required, null
        removes a value) or in a profile (only declared fields, none required)."""
        definitions: dict[str, Any] = {}
        for name, spec in self.fields.items():
            annotation = spec.annotation()
            if writing and spec.required:
                definitions[name] = (annotation, ...)
            else:
                definitions[name] = (annotation | None if writing else annotation, None)
        model = create_model("ProfileFields", __config__=ConfigDict(extra="forbid"), **definitions)
        schema: dict[str, Any] = model.model_json_schema()
        schema.pop("title", None)
        schema["description"] = (
            "Custom fields declared by the operator's profile schema (docs/profile-schema.md)"
        )
        return schema


EMPTY = ProfileSchema()
_active: list[ProfileSchema] = [EMPTY]


def active() -> ProfileSchema:
    """The installed profile schema (empty when none is configured)."""
    return _active[0]


def install(schema: ProfileSchema) -> None:
    """Make ``schema`` the one writes are checked against and the OpenAPI document shows (the
    app factory installs the configured one, through ``configure``)."""
    _active[0] = schema


def configure(app: Any) -> None:
    """Load ``PROFILESTORE_PROFILE_SCHEMA`` (a bad file stops the app's creation with a
    ``SchemaError``) and install it."""
    path: Path | None = app.state.settings.profile_schema
    schema = load(path) if path is not None else EMPTY
    install(schema)
    app.state.profile_schema = schema


def load(path: Path) -> ProfileSchema:
    """The schema in the YAML file at ``path``; ``SchemaError`` when it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"profile schema {path}: cannot be read ({exc})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"profile schema {path}: not valid YAML ({exc})") from None
    return parse(document, source=str(path))


def parse(document: Any, *, source: str = "<profile schema>") -> ProfileSchema:
    """The schema of a parsed YAML document: ``{"fields": {name: {type: ..., rules...}}}``."""
    if document is None:
        return ProfileSchema(source=source)
    if not isinstance(document, dict) or set(document) - {"fields"}:
        raise SchemaError(f"profile schema {source}: the top level must be a mapping with `fields`")
    declared = document.get("fields") or {}
    if not isinstance(declared, dict):
        raise SchemaError(f"profile schema {source}: `fields` must map field names to rules")
    if len(declared) > MAX_FIELDS:
        raise SchemaError(f"profile schema {source}: at most {MAX_FIELDS} fields")
    specs = {str(name): _field(source, name, rules) for name, rules in declared.items()}
    return ProfileSchema(specs, source)


BUILT_IN_NAMES = frozenset(
    {
        *("user_id", "username", "display_name", "avatar_url", "bio", "locale", "timezone"),
        *("preferences", "private_account", "visibility", "fields", "status", "last_seen"),
        *("created_at", "updated_at", "version"),
    }
)
"""Names a custom field cannot take: the built-in fields (and presence's), whose audiences
share one namespace with the custom fields' in ``PATCH .../privacy``."""


def _field(source: str, name: Any, rules: Any) -> FieldSpec:
    where = f"profile schema {source}: field {name!r}"
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise SchemaError(f"{where}: a name is 1-63 of a-z 0-9 _, starting with a letter")
    if name in BUILT_IN_NAMES:
        raise SchemaError(f"{where}: the name of a built-in field (its audience would be shared)")
    if not isinstance(rules, dict):
        raise SchemaError(f"{where}: give a mapping of its rules (at least `type`)")
    if "name" in rules:
        raise SchemaError(f"{where}: name: the field's name is its key; remove `name`")
    try:
        return FieldSpec.model_validate({**rules, "name": name})
    except ValidationError as exc:
        raise SchemaError(f"{where}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{loc}: {message}" if loc else message)
    return "; ".join(problems)


def validate_values(
    values: Mapping[str, Any],
    *,
    stored: Mapping[str, Any],
    creating: bool,
    schema: ProfileSchema | None = None,
    loc: tuple[str, ...] = ("body", "fields"),
) -> dict[str, Any]:
    """The ``fields`` column after a write of ``values`` (PUT: the body's; PATCH: the stored
    declared values with the patch merged in), or a 422 naming each refused value.

    Undeclared names are refused; null leaves a field without a value; a value equal to the
    stored one is kept as it is (a rule tightened later does not lock the owner out: ``schema
    check`` reports it); a required field must have a value when the profile is created and
    keeps one once it has. Stored values of fields the schema no longer declares are kept."""
    schema = schema or active()
    errors: list[dict[str, Any]] = []
    result = {name: value for name, value in stored.items() if name not in schema.fields}
    for name, value in values.items():
        if name not in schema.fields:
            errors.append(_error(loc, name, "not declared in the profile schema", "undeclared"))
        elif value is not None:
            refused = [] if _same(stored.get(name), value) else schema.errors(name, value)
            errors += [_located(error, (*loc, name)) for error in refused]
            result[name] = value
    for spec in schema.required():
        if values.get(spec.name) is None and (creating or stored.get(spec.name) is not None):
            errors.append(_error(loc, spec.name, "required by the profile schema", "missing"))
    if errors:
        raise validation_problem(errors)
    return result


def _same(stored: Any, value: Any) -> bool:
    """Equal and of the same JSON type (``True == 1`` in Python, not in the schema)."""
    return type(stored) is type(value) and stored == value


def _located(error: dict[str, Any], loc: tuple[str, ...]) -> dict[str, Any]:
    message = error["msg"].removeprefix("Value error, ")
    return {**error, "loc": (*loc, *error["loc"]), "msg": message}


def _error(loc: tuple[str, ...], name: str, message: str, code: str) -> dict[str, Any]:
    return {"loc": (*loc, name), "msg": message, "type": code}


@dataclass(frozen=True)
class _Documented:
    """Pydantic metadata of ``fields``: its JSON schema is the installed profile schema's,
    read when the OpenAPI document is built (the values are checked by ``validate_values``)."""

    writing: bool

    def __get_pydantic_json_schema__(
        self, _schema: core_schema.CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return active().json_schema(writing=self.writing)


WrittenValues = Annotated[dict[str, Any], _Documented(writing=True)]
"""The type of ``fields`` in a profile write body."""
ShownValues = Annotated[dict[str, Any], _Documented(writing=False)]
"""The type of ``fields`` in a profile as its owner sees it."""
