"""Input types every domain's schemas and parameters use, so that a whole class of hostile input
is refused in one place (with a 422 naming the field) before it can reach a database that would
refuse it with an error of its own (a 500):

- ``TextRule(...)``: no control characters (tab and newline only in multi-line text), no DEL or C1
  controls, no lone surrogates; normalised to NFC; bounded length, stated in OpenAPI.
- ``check_json_text``: the same rule for every key and string inside a free JSON value.
- ``BoundedDatetime``: an ISO 8601 string with a time zone, year 1900-2200 (so no conversion
  can overflow in Python, PostgreSQL or SQLite); numbers are refused.
- ``Int64`` / ``parse_int64``: integers that fit PostgreSQL's ``bigint``; ASCII digits only.
- ``StrictBool``: ``true``/``false`` only (``0`` and ``"yes"`` are refused).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
)
from pydantic_core import PydanticCustomError, core_schema

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
YEAR_MIN, YEAR_MAX = 1900, 2200

_SINGLE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
SINGLE_LINE_ALLOWED = r"[^\u0000-\u001f\u007f-\u009f]"
MULTI_LINE_ALLOWED = r"[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]"
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")


def clean_text(value: str, *, multiline: bool = False) -> str:
    """``value`` in NFC, or a validation error naming the first forbidden character."""
    forbidden = _MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN
    found = forbidden.search(value)
    if found is not None:
        raise PydanticCustomError(
            "text_forbidden_character",
            "control characters and lone surrogates are not allowed "
            "(U+{code} at position {position})",
            {"code": f"{ord(found.group()):04X}", "position": found.start()},
        )
    return unicodedata.normalize("NFC", value)


@dataclass(frozen=True)
class TextRule:
    """Pydantic metadata for a text field: ``Annotated[str, TextRule(64)]``,
    ``Annotated[str, TextRule(500, multiline=True)]``. Lengths count characters after
    normalisation; the OpenAPI schema states them and a pattern without control characters."""

    max_length: int
    min_length: int = 0
    multiline: bool = False
    strip: bool = False
    not_blank: bool = False

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self.validate, core_schema.str_schema(strict=True)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = dict(handler(schema))
        json_schema["maxLength"] = self.max_length
        if self.min_length or self.not_blank:
            json_schema["minLength"] = max(self.min_length, 1 if self.not_blank else 0)
        json_schema["pattern"] = self._pattern()
        return json_schema

    def _pattern(self) -> str:
        allowed = MULTI_LINE_ALLOWED if self.multiline else SINGLE_LINE_ALLOWED
        if self.not_blank:
            return f"^{allowed}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{allowed}*$"
        return f"^{allowed}*$"

    def validate(self, value: str) -> str:
        value = clean_text(value.strip() if self.strip else value, multiline=self.multiline)
        if self.not_blank and not value.strip():
            raise PydanticCustomError("text_blank", "must not be empty or only spaces")
        if len(value) < self.min_length:
            raise PydanticCustomError(
                "string_too_short",
                "must have at least {min_length} characters",
                {"min_length": self.min_length},
            )
        if len(value) > self.max_length:
            raise PydanticCustomError(
                "string_too_long",
                "must have at most {max_length} characters",
                {"max_length": self.max_length},
            )
        return value


def check_json_text(value: Any, path: str = "") -> None:
    """Every key (single-line) and string (multi-line allowed) inside a JSON value."""
    if isinstance(value, str):
        clean_text(value, multiline=True)
    elif isinstance(value, dict):
        for key, child in value.items():
            clean_text(str(key))
            check_json_text(child, f"{path}.{key}")
    elif isinstance(value, list):
        for child in value:
            check_json_text(child, path)


_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _datetime_input(value: Any) -> Any:
    """A datetime or an ISO 8601 string: Pydantic reads a string of digits (``"0.5"``,
    ``"1700000000"``, the form every query parameter arrives in) as Unix seconds."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE_START.match(value):
        return value
    raise PydanticCustomError("datetime_type", "must be an ISO 8601 date-time string")


def _bounded(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError("datetime_naive", "needs a time zone offset (e.g. Z)")
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise PydanticCustomError(
            "datetime_range", "the year must be {low}-{high}", {"low": YEAR_MIN, "high": YEAR_MAX}
        )
    return value.astimezone(dt.UTC)


def bounded_date(value: dt.date) -> dt.date:
    """A date of years YEAR_MIN-YEAR_MAX: every day of it converts to an instant in any zone."""
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise PydanticCustomError(
            "date_range", "the year must be {low}-{high}", {"low": YEAR_MIN, "high": YEAR_MAX}
        )
    return value


BoundedDatetime = Annotated[
    dt.datetime,
    BeforeValidator(_datetime_input),
    AfterValidator(_bounded),
    Field(description=f"ISO 8601 with a time zone, years {YEAR_MIN}-{YEAR_MAX}"),
]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
StrictBoolean = StrictBool


def parse_int64(text: str) -> int | None:
    """An integer written in ASCII digits that fits in 64 bits, else None (``²`` and ``٣``
    are digits to ``str.isdigit`` but not here)."""
    if not _ASCII_INT.fullmatch(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None
