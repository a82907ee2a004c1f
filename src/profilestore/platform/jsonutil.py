"""Fast JSON encoding shared by responses, logs and errors."""

from __future__ import annotations

import uuid
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # subclasses, e.g. asyncpg's, which orjson does not take
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
