"""The shared input types, as properties: what they accept is safe for every store, and what
they refuse is refused whatever surrounds it."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from profilestore.platform.types import (
    INT64_MAX,
    BoundedDatetime,
    TextRule,
    check_json_text,
    clean_text,
    parse_int64,
)

FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class Note(BaseModel):
    title: Annotated[str, TextRule(40, strip=True, not_blank=True)]
    body: Annotated[str, TextRule(200, multiline=True)] = ""
    at: BoundedDatetime | None = None


@given(st.text(st.characters(codec=None), max_size=60))
def test_clean_text_accepts_exactly_the_safe_strings(value: str) -> None:
    if FORBIDDEN.search(value):
        with pytest.raises(ValueError):
            clean_text(value, multiline=True)
        return
    cleaned = clean_text(value, multiline=True)
    assert cleaned == unicodedata.normalize("NFC", value)
    orjson.dumps(cleaned)  # every accepted string can be encoded (and stored)


@given(
    st.text(max_size=10),
    st.sampled_from(["\x00", "\ud800", "\x1b", "\x9f", "\r"]),
    st.text(max_size=10),
)
def test_a_forbidden_character_anywhere_is_refused(head: str, bad: str, tail: str) -> None:
    with pytest.raises(ValidationError):
        Note(title="t", body=head + bad + tail)


def test_single_line_refuses_newlines_and_multi_line_keeps_them() -> None:
    with pytest.raises(ValidationError):
        Note(title="a\nb")
    assert Note(title="  a  ", body="line\n\tline").model_dump()["title"] == "a"
    with pytest.raises(ValidationError):
        Note(title="   ")


def test_json_text_checks_keys_and_nested_strings() -> None:
    check_json_text({"a": ["b", {"c": "multi\nline"}]})
    for bad in ({"\x00": 1}, {"a": ["\ud800"]}, {"a": {"b": "\x07"}}):
        with pytest.raises(ValueError):
            check_json_text(bad)


@given(st.integers())
def test_parse_int64_round_trips_and_bounds(value: int) -> None:
    parsed = parse_int64(str(value))
    assert parsed == (value if -(2**63) <= value <= INT64_MAX else None)


@pytest.mark.parametrize("text", ["²", "٣", "1_000", " 1", "+1", "", "0x10", "1e3"])
def test_parse_int64_takes_ascii_digits_only(text: str) -> None:
    assert parse_int64(text) is None


@given(st.datetimes(timezones=st.timezones()))
def test_bounded_datetime_never_overflows(value: dt.datetime) -> None:
    try:
        note = Note(title="t", at=value.isoformat())
    except ValidationError:
        offset = value.utcoffset()
        # Refused: out of range, or an offset with seconds (local mean time), which RFC 3339
        # cannot write.
        assert not 1900 <= value.year <= 2200 or offset is None or offset.seconds % 60
        return
    assert note.at is not None and note.at.tzinfo == dt.UTC


@pytest.mark.parametrize(
    "value",
    [
        0,
        1.5,
        "0.5",
        "1700000000",
        "1e9",
        " 1700000000",
        "2024-01-01T00:00:00",
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_bounded_datetime_refuses_numbers_naive_and_out_of_range(value: object) -> None:
    with pytest.raises(ValidationError):
        Note(title="t", at=value)
