"""Request-body models shared by every domain: unknown fields refused, server-kept fields named,
and JSON Merge Patch (RFC 7396) applied to a resource's current state, then validated."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from profilestore.platform.errors import validation_problem

SERVER_KEPT = ("user_id", "created_at", "updated_at", "version")
Model = TypeVar("Model", bound=BaseModel)


class WriteModel(BaseModel):
    """A request body: unknown fields are refused, server-kept fields get a clear message."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_server_kept(cls, data: Any) -> Any:
        if isinstance(data, dict):
            written = [name for name in SERVER_KEPT if name in data]
            if written:
                raise PydanticCustomError(
                    "read_only",
                    "server-kept fields cannot be written: {fields}",
                    {"fields": ", ".join(written)},
                )
        return data


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def patched(model: type[Model], current: dict[str, Any], patch: dict[str, Any]) -> Model:
    """``patch`` merged into ``current``, validated as ``model`` (422 with body.* field paths)."""
    try:
        return model.model_validate(merge_patch(current, patch))
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise validation_problem(errors) from None
