"""Field rules and the merge-patch algorithm, without a database."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from profilestore.domains.profiles.schemas import AddressWrite, ProfileWrite
from profilestore.domains.profiles.validation import (
    PREFERENCES_MAX_DEPTH,
    check_country,
    check_locale,
    check_preferences,
)
from profilestore.platform.schemas import merge_patch

USERNAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_.]{3,32}$")


def username_allowed(candidate: str) -> bool:
    """The username rule, said another way than the schema's pattern: 3-32 of a-z 0-9 _ .,
    starting with a letter or digit, dots only single and between other characters."""
    return (
        bool(USERNAME_CHARACTERS.match(candidate))
        and candidate[0].isascii()
        and candidate[0].isalnum()
        and ".." not in candidate
        and not candidate.endswith(".")
    )


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7396, Appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7396_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text(max_size=3), json_values, max_size=4),
    st.dictionaries(st.text(max_size=3), json_values, max_size=4),
)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    assert all(value is not None for key, value in once.items() if key in patch)


@given(st.text(max_size=40))
def test_username_rule(candidate: str) -> None:
    try:
        model = ProfileWrite(username=candidate)
    except ValidationError:
        assert not username_allowed(candidate)
    else:
        assert username_allowed(candidate)
        assert model.username == candidate.lower()


@pytest.mark.parametrize(
    "tag",
    ["en", "en-US", "zh-Hant-TW", "es-419", "sr-Latn-RS", "de-CH-1996", "en-x-private", "gsw"],
)
def test_locale_accepts_bcp47(tag: str) -> None:
    assert check_locale(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", "e", "english", "en_US", "en-", "-en", "en--US", "12", "a" * 36]
)
def test_locale_refuses_non_tags(tag: str) -> None:
    with pytest.raises(ValueError, match="BCP 47"):
        check_locale(tag)


def test_country_codes() -> None:
    assert check_country("de") == "DE"
    for bad in ("XX", "DEU", "D", "", "UK"):
        with pytest.raises(ValueError, match="3166"):
            check_country(bad)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_preferences_depth_bound() -> None:
    assert check_preferences(nested(PREFERENCES_MAX_DEPTH))
    with pytest.raises(ValueError, match="deeper"):
        check_preferences(nested(PREFERENCES_MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="deeper"):
        check_preferences({"a": [[[[[[[[[1]]]]]]]]]})


@given(json_values)
def test_preferences_never_crash(value: Any) -> None:
    try:
        ProfileWrite(username="abc", preferences=value)
    except ValidationError as exc:
        assert exc.errors()


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, float("nan"), float("inf")])
def test_preferences_numbers_fit_every_store(number: float) -> None:
    with pytest.raises(ValidationError):
        ProfileWrite(username="abc", preferences={"n": [number]})


def test_timezone_and_address_rules() -> None:
    assert ProfileWrite(username="abc", timezone="Pacific/Auckland").timezone == "Pacific/Auckland"
    with pytest.raises(ValidationError):
        ProfileWrite(username="abc", timezone="UTC+2")
    with pytest.raises(ValidationError):
        AddressWrite(kind="shipping", lines=[], city="x", country="DE")
    address = AddressWrite(kind="billing", lines=["a"], city="x", country="fr")
    assert address.country == "FR" and not address.is_default
