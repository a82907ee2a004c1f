"""The pieces every conversion of a legacy row uses: ``Skip`` (what is not imported, and
why), validation by our own models with the refusal as one line, and the two value
conversions that need a rule of their own (a wall-clock time, an age)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from profilestore.platform.types import YEAR_MAX, YEAR_MIN

HALF_YEAR = dt.timedelta(days=182)
Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Skip:
    """A legacy row (``column`` None) or one value of a row that is not imported, and why. A
    skipped calorie event keeps its kind here and amount, for the verification."""

    table: str
    row_id: uuid.UUID
    user_id: uuid.UUID
    reason: str
    column: str | None = None
    value: Any = None
    kind: str | None = None
    amount: Decimal = Decimal(0)

    def line(self) -> str:
        what = f"{self.table} {self.row_id}"
        if self.table != "users":
            what += f" (user {self.user_id})"
        if self.column is not None:
            shown = repr(self.value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            what += f" {self.column}={shown}"
        return f"{what}: {self.reason}"


def validated(model: type[Model], data: dict[str, Any]) -> Model | str:
    """``data`` as ``model``, or why ``model`` refuses it (one line)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            parts.append(f"{where}: {error['msg']}" if where else error["msg"])
        return "; ".join(parts)


def refusal(model: type[BaseModel], data: dict[str, Any]) -> str | None:
    """Why ``model`` refuses ``data``, or None if it accepts it."""
    found = validated(model, data)
    return found if isinstance(found, str) else None


def instant(stamp: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    """A legacy timestamp (a wall-clock time of ``zone``) as an instant in UTC; None if there
    is none or its year is outside 1900-2200. A repeated wall-clock time (the autumn hour) is
    its first occurrence; one that never happened (the spring gap) is read with the offset in
    force before the gap, so it lands an hour later on the clock."""
    if stamp is None or not YEAR_MIN <= stamp.year <= YEAR_MAX:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.astimezone(dt.UTC)


def birth_date_for(age: int, on: dt.date) -> dt.date:
    """A birth date that gives ``age`` on ``on``: the middle of the year of possible ones."""
    year = max(on.year - age, 2)  # the subtraction below needs a year after 1
    try:
        anniversary = on.replace(year=year)
    except ValueError:  # 29 February in a common year
        anniversary = on.replace(year=year, day=28)
    return anniversary - HALF_YEAR
