"""Legacy calorie events: the calorie kinds become calorie events keyed by the legacy id, the
``weight`` type becomes the day's weight entry; every other row is skipped, with its reason."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from profilestore.domains.nutrition import public as nutrition
from profilestore.importers.calorie_balance.conversions import (
    Skip,
    instant,
    validated,
)
from profilestore.importers.calorie_balance.legacy import LegacyEvent
from profilestore.platform.types import YEAR_MAX, YEAR_MIN

SOURCE_TAG = "calorie-balance"
"""The ``source`` of every imported calorie event (the legacy metadata is kept as it was)."""
KINDS = {"consumed": "consumed", "burned_exercise": "burned_activity", "burned_bmr": "burned_other"}
"""Legacy event types that are calorie events, and their kind here."""
WEIGHT = "weight"
"""The legacy event type whose amount is a weight in kg: a weight log entry here."""
OUT_OF_RANGE = f"event_timestamp: the year must be {YEAR_MIN}-{YEAR_MAX}"
WeightsByDay = dict[dt.date, tuple[uuid.UUID, nutrition.WeightLog]]


def ledger(
    events: list[LegacyEvent], zone: ZoneInfo, user_id: uuid.UUID, skips: list[Skip]
) -> tuple[list[nutrition.CalorieWrite], WeightsByDay]:
    """Calorie events, and weights by local day (the day's last weight; the earlier ones of
    the day are skipped: one weight a day is kept here). ``events`` are in time order."""
    entries = []
    weights: WeightsByDay = {}
    for event in events:
        event_type = event.event_type.strip(" ").lower()  # as SQL's lower(trim(...))
        at = instant(event.event_timestamp, zone)
        if event_type == WEIGHT:
            _weight(event, at, zone, user_id, weights, skips)
        elif event_type in KINDS:
            entry = _calorie(event, KINDS[event_type], at, user_id, skips)
            if entry is not None:
                entries.append(entry)
        else:
            known = ", ".join((*KINDS, WEIGHT))
            reason = f"event_type {event.event_type!r} is none of {known}"
            skips.append(Skip("calorie_events", event.id, user_id, reason))
    return entries, weights


def _calorie(
    event: LegacyEvent, kind: str, at: dt.datetime | None, user_id: uuid.UUID, skips: list[Skip]
) -> nutrition.CalorieWrite | None:
    """A calorie event, keyed by the legacy id; metadata our rules refuse is skipped (the
    event is imported without it)."""
    if at is None:
        skips.append(_refused_event(event, kind, user_id, OUT_OF_RANGE))
        return None
    data: dict[str, Any] = {
        "event_id": event.id,
        "kind": kind,
        "kcal": float(event.calories_amount),
        "at": at,
        "source": SOURCE_TAG,
    }
    if event.metadata is not None and event.metadata != {}:
        data["metadata"] = event.metadata
    entry = validated(nutrition.CalorieWrite, data)
    if isinstance(entry, str) and "metadata" in data:
        without = validated(nutrition.CalorieWrite, {**data, "metadata": None})
        if not isinstance(without, str):
            skips.append(
                Skip("calorie_events", event.id, user_id, entry, "metadata", event.metadata)
            )
            return without
    if isinstance(entry, str):
        skips.append(_refused_event(event, kind, user_id, entry))
        return None
    return entry


def _refused_event(event: LegacyEvent, kind: str, user_id: uuid.UUID, reason: str) -> Skip:
    return Skip(
        "calorie_events", event.id, user_id, reason, kind=kind, amount=event.calories_amount
    )


def _weight(
    event: LegacyEvent,
    at: dt.datetime | None,
    zone: ZoneInfo,
    user_id: uuid.UUID,
    weights: WeightsByDay,
    skips: list[Skip],
) -> None:
    if at is None:
        skips.append(Skip("calorie_events", event.id, user_id, OUT_OF_RANGE))
        return
    day = at.astimezone(zone).date()
    entry = validated(nutrition.WeightLog, {"day": day, "weight_kg": float(event.calories_amount)})
    if isinstance(entry, str):
        skips.append(Skip("calorie_events", event.id, user_id, entry))
        return
    if day in weights:
        replaced, _ = weights[day]
        reason = f"a later weight of {day} replaces it (one weight a day is kept)"
        skips.append(Skip("calorie_events", replaced, user_id, reason))
    weights[day] = (event.id, entry)
