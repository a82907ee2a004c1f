"""The profile schema: loading it, each type's rules, and the write rules of custom values."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profilestore.domains.profiles.custom_fields import (
    ProfileSchema,
    SchemaError,
    load,
    parse,
    validate_values,
)
from profilestore.platform.errors import ProblemError

SCHEMA = parse(
    {
        "fields": {
            "nickname": {"type": "string", "min_length": 2, "max_length": 8, "pattern": "^[a-z]+$"},
            "colour": {"type": "string", "enum": ["red", "green"]},
            "height_cm": {"type": "integer", "min": 50, "max": 272, "unit": "cm"},
            "weight_kg": {"type": "number", "min": 2.5, "max": 400},
            "newsletter": {"type": "boolean"},
            "birthday": {"type": "date"},
            "sports": {"type": "list", "enum": ["run", "swim", "ride"], "max_items": 2},
            "member_id": {"type": "string", "required": True, "visibility": "public"},
        }
    }
)

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def refused(name: str, value: Any) -> bool:
    return bool(SCHEMA.errors(name, value))


def write(values: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("stored", {"member_id": "m1"})
    kwargs.setdefault("creating", False)
    return validate_values({"member_id": "m1", **values}, schema=SCHEMA, **kwargs)


def problem_of(values: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(ProblemError) as caught:
        write(values, **kwargs)
    assert caught.value.status == 422
    return [(error.field, error.code) for error in caught.value.errors]


# --- loading ---------------------------------------------------------------------------------


def test_load_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(
        "fields:\n  height_cm:\n    type: integer\n    min: 50\n    unit: cm\n"
        "    visibility: contacts\n    required: true\n"
    )
    schema = load(path)
    spec = schema.fields["height_cm"]
    assert (spec.name, spec.type, spec.min, spec.unit) == ("height_cm", "integer", 50, "cm")
    assert spec.visibility == "contacts" and spec.required
    assert schema.source == str(path)


def test_defaults_are_optional_and_private() -> None:
    spec = parse({"fields": {"x": {"type": "boolean"}}}).fields["x"]
    assert spec.visibility == "private" and not spec.required


def test_an_empty_file_declares_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert dict(load(path).fields) == {}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"fields": {"x": {"type": "text"}}}, "type: Input should be 'string'"),
        ({"fields": {"x": {"type": "integer", "pattern": "a"}}}, "pattern: not a rule of"),
        ({"fields": {"x": {"type": "integer", "min": 5, "max": 1}}}, "min must not be greater"),
        ({"fields": {"x": {"type": "integer", "min": 1.5}}}, "must be whole numbers"),
        ({"fields": {"x": {"type": "string", "min_length": 5, "max_length": 2}}}, "min_length"),
        ({"fields": {"x": {"type": "string", "pattern": "(?=a)"}}}, "not a usable regular"),
        ({"fields": {"x": {"type": "string", "enum": ["a", "a"]}}}, "must not repeat"),
        ({"fields": {"x": {"type": "list"}}}, "a list field needs"),
        ({"fields": {"x": {"type": "string", "colour": "red"}}}, "colour: Extra inputs"),
        ({"fields": {"x": {"type": "string", "visibility": "friends"}}}, "visibility"),
        ({"fields": {"x": {"type": "string", "required": "yes"}}}, "required"),
        ({"fields": {"x": {"type": "string", "name": "y"}}}, "its key"),
        ({"fields": {"X-1": {"type": "string"}}}, "a name is"),
        ({"fields": {"x": "string"}}, "give a mapping"),
        ({"fields": {"x": {}}}, "type: Field required"),
        ({"fields": ["x"]}, "`fields` must map"),
        ({"other": {}}, "top level"),
    ],
)
def test_a_bad_schema_names_the_source_field_and_problem(document: Any, problem: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse(document, source="app.yaml")
    message = str(caught.value)
    assert message.startswith("profile schema app.yaml")
    assert problem in message
    if isinstance(document.get("fields"), dict):
        assert f"field {next(iter(document['fields']))!r}" in message


@pytest.mark.parametrize("text", ["fields: [unclosed", "fields:\n\t- tab"])
def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SchemaError, match=f"profile schema {path}: not valid YAML"):
        load(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="cannot be read"):
        load(tmp_path / "absent.yaml")


# --- each type's rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("nickname", "ann"),
        ("colour", "green"),
        ("height_cm", 50),
        ("height_cm", 272),
        ("weight_kg", 70),
        ("weight_kg", 70.5),
        ("newsletter", False),
        ("birthday", "2000-02-29"),
        ("sports", []),
        ("sports", ["swim", "run"]),
    ],
)
def test_valid_values_pass(name: str, value: Any) -> None:
    assert SCHEMA.errors(name, value) == []


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("nickname", "a", "string_too_short"),
        ("nickname", "abcdefghi", "string_too_long"),
        ("nickname", "Ann", "string_pattern_mismatch"),
        ("nickname", 12, "string_type"),
        ("colour", "blue", "literal_error"),
        ("height_cm", 49, "greater_than_equal"),
        ("height_cm", 273, "less_than_equal"),
        ("height_cm", 170.5, "int_type"),
        ("height_cm", "170", "int_type"),
        ("height_cm", True, "int_type"),
        ("weight_kg", 1, "greater_than_equal"),
        ("weight_kg", math.inf, "finite_number"),
        ("weight_kg", "70", "float_type"),
        ("newsletter", 1, "bool_type"),
        ("newsletter", "true", "bool_type"),
        ("birthday", "2001-02-29", "value_error"),
        ("birthday", "1.1.2000", "string_pattern_mismatch"),
        ("birthday", "2000-01-01T00:00:00", "string_pattern_mismatch"),
        ("sports", ["golf"], "literal_error"),
        ("sports", ["run", "run"], "value_error"),
        ("sports", ["run", "swim", "ride"], "too_long"),
        ("sports", "run", "list_type"),
    ],
)
def test_each_rule_refuses(name: str, value: Any, code: str) -> None:
    assert [error["type"] for error in SCHEMA.errors(name, value)][:1] == [code]


def test_strings_refuse_control_characters() -> None:
    assert SCHEMA.errors("member_id", "a\x00b")


_WRONG_TYPES = {
    "nickname": lambda v: not isinstance(v, str),
    "colour": lambda v: v not in ("red", "green"),
    "height_cm": lambda v: isinstance(v, bool) or not isinstance(v, int),
    "weight_kg": lambda v: isinstance(v, bool) or not isinstance(v, int | float),
    "newsletter": lambda v: not isinstance(v, bool),
    "birthday": lambda v: not isinstance(v, str),
    "sports": lambda v: not isinstance(v, list) or any(x not in ("run", "swim", "ride") for x in v),
}


@given(name=st.sampled_from(sorted(_WRONG_TYPES)), value=JSON_VALUES)
def test_values_of_the_wrong_type_are_refused(name: str, value: Any) -> None:
    if value is not None and _WRONG_TYPES[name](value):
        assert refused(name, value)


@given(st.integers().filter(lambda n: not 50 <= n <= 272))
def test_integers_out_of_range_are_refused(value: int) -> None:
    assert refused("height_cm", value)


@given(st.integers(50, 272))
def test_integers_in_range_pass(value: int) -> None:
    assert not refused("height_cm", value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_numbers_pass_exactly_when_finite_and_in_range(value: float) -> None:
    assert refused("weight_kg", value) == (not 2.5 <= value <= 400)


@given(st.text(max_size=12))
def test_strings_pass_exactly_when_they_fit_length_and_pattern(value: str) -> None:
    fits = 2 <= len(value) <= 8 and value.isascii() and value.isalpha() and value.islower()
    assert refused("nickname", value) == (not fits)


@given(st.dates())
def test_every_calendar_date_passes(value: dt.date) -> None:
    assert not refused("birthday", value.isoformat())


@given(st.lists(st.sampled_from(["run", "swim", "ride"]), max_size=4))
def test_lists_pass_exactly_without_repeats_and_within_max_items(value: list[str]) -> None:
    assert refused("sports", value) == (len(set(value)) != len(value) or len(value) > 2)


# --- write rules -----------------------------------------------------------------------------


def test_a_write_keeps_valid_values() -> None:
    assert write({"height_cm": 180}) == {"member_id": "m1", "height_cm": 180}


def test_an_undeclared_name_is_refused() -> None:
    assert problem_of({"shoe_size": 44}) == [("body.fields.shoe_size", "undeclared")]


def test_each_refused_value_is_named() -> None:
    errors = problem_of({"height_cm": 10, "sports": ["golf"]})
    assert ("body.fields.height_cm", "greater_than_equal") in errors
    assert ("body.fields.sports.0", "literal_error") in errors


def test_null_leaves_a_field_without_value() -> None:
    assert write({"height_cm": None}, stored={"member_id": "m1", "height_cm": 180}) == {
        "member_id": "m1"
    }


def test_required_fields_are_needed_on_create() -> None:
    with pytest.raises(ProblemError) as caught:
        validate_values({}, stored={}, creating=True, schema=SCHEMA)
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("body.fields.member_id", "missing")
    ]


def test_a_required_value_cannot_be_removed() -> None:
    with pytest.raises(ProblemError):
        validate_values({}, stored={"member_id": "m1"}, creating=False, schema=SCHEMA)


def test_a_required_field_added_later_does_not_block_other_writes() -> None:
    assert validate_values({"height_cm": 90}, stored={}, creating=False, schema=SCHEMA) == {
        "height_cm": 90
    }


def test_stored_values_of_undeclared_fields_are_kept() -> None:
    stored = {"member_id": "m1", "shoe_size": 44}
    assert write({}, stored=stored) == {"member_id": "m1", "shoe_size": 44}


def test_an_unchanged_stored_value_is_not_checked_again() -> None:
    stored = {"member_id": "m1", "height_cm": 20}
    assert write({"height_cm": 20}, stored=stored)["height_cm"] == 20
    assert problem_of({"height_cm": 21}, stored=stored) == [
        ("body.fields.height_cm", "greater_than_equal")
    ]


def test_an_equal_value_of_another_json_type_is_checked() -> None:
    assert problem_of({"newsletter": 1}, stored={"member_id": "m1", "newsletter": True}) == [
        ("body.fields.newsletter", "bool_type")
    ]


def test_shown_values_are_the_declared_ones() -> None:
    assert SCHEMA.shown({"shoe_size": 44, "colour": "red", "height_cm": None}) == {"colour": "red"}


def test_an_empty_schema_refuses_every_name() -> None:
    with pytest.raises(ProblemError):
        validate_values({"x": 1}, stored={}, creating=True, schema=ProfileSchema())


def test_the_json_schema_documents_rules_unit_and_visibility() -> None:
    written = SCHEMA.json_schema(writing=True)
    assert written["additionalProperties"] is False
    assert written["required"] == ["member_id"]
    height = written["properties"]["height_cm"]["anyOf"][0]
    assert (height["type"], height["minimum"], height["maximum"]) == ("integer", 50, 272)
    assert "Unit: cm." in height["description"] and "Visible to: private." in height["description"]
    shown = SCHEMA.json_schema(writing=False)
    assert "required" not in shown
    assert shown["properties"]["sports"]["items"]["enum"] == ["run", "swim", "ride"]


def test_the_sample_schema_loads() -> None:
    sample = Path(__file__).parents[2] / "examples" / "profile-schema.yaml"
    schema = load(sample)
    assert {spec.type for spec in schema.fields.values()} == {
        "string",
        "integer",
        "number",
        "boolean",
        "date",
        "list",
    }


@pytest.mark.parametrize("name", ["bio", "status", "last_seen", "private_account"])
def test_a_custom_field_cannot_take_a_built_in_name(name: str) -> None:
    with pytest.raises(SchemaError, match="built-in"):
        parse({"fields": {name: {"type": "string"}}})
