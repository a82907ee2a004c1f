"""From the calorie-balance schema to ours: each legacy row becomes a write of the profiles or
the nutrition domain, validated by that domain's own models, or a ``Skip`` that says why not.
The conversions are listed in docs/nutrition.md ("Importing the calorie-balance service's
database"). Pure functions: nothing here reads or writes a database."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from profilestore.domains.nutrition import public as nutrition
from profilestore.domains.profiles import public as profiles
from profilestore.importers.calorie_balance.conversions import (
    Skip,
    birth_date_for,
    instant,
    refusal,
    validated,
)
from profilestore.importers.calorie_balance.ledger import ledger
from profilestore.importers.calorie_balance.legacy import LegacyAccount, LegacyGoal, LegacyProfile
from profilestore.platform.types import YEAR_MAX, YEAR_MIN

BODY_FIELDS = {
    "height_cm": "height_cm",
    "weight_kg": "weight_kg",
    "age": "birth_date",
    "gender": "sex",
    "activity_level": "activity_level",
}
"""Legacy profile columns and the body field each becomes."""
ImportedGoal = nutrition.legacy_import.ImportedGoal


@dataclass
class AccountPlan:
    """What one legacy user becomes here, and what of theirs is not imported."""

    user_id: uuid.UUID
    profile: profiles.ProfileWrite
    body: nutrition.BodyWrite | None
    goals: list[ImportedGoal]
    weights: list[nutrition.WeightLog]
    weight_rows: dict[dt.date, uuid.UUID]
    events: list[nutrition.CalorieWrite]
    skips: list[Skip] = field(default_factory=list)
    metabolic_profiles: int = 0


def plan_account(
    account: LegacyAccount, timezone: str | None, now: dt.datetime
) -> AccountPlan | Skip:
    """The plan of one legacy user; a ``Skip`` of the whole user if their username is one our
    rules refuse."""
    user = account.user
    profile = validated(profiles.ProfileWrite, {"username": user.username, "timezone": timezone})
    if isinstance(profile, str):
        return refused_account(account, f"username {user.username!r}: {profile}")
    zone = ZoneInfo(timezone or "UTC")
    skips: list[Skip] = []
    body = _body(account.profile, user.id, now.date(), skips) if account.profile else None
    events, weights = ledger(account.events, zone, user.id, skips)
    return AccountPlan(
        user_id=user.id,
        profile=profile,
        body=body,
        goals=_goals(account.goals, zone, now, user.id, skips),
        weights=[entry for _, entry in weights.values()],
        weight_rows={day: row_id for day, (row_id, _) in weights.items()},
        events=events,
        skips=skips,
        metabolic_profiles=account.metabolic_profiles,
    )


def refused_account(account: LegacyAccount, reason: str) -> Skip:
    """The whole user skipped: the reason, and what of theirs goes with them."""
    rows = [
        f"{count} {name}"
        for count, name in (
            (1 if account.profile else 0, "profile"),
            (len(account.goals), "goals"),
            (len(account.events), "events"),
        )
        if count
    ]
    withheld = f", with {', '.join(rows)}" if rows else ""
    user = account.user
    return Skip("users", user.id, user.id, f"{reason} (the user is not imported{withheld})")


def _body(
    profile: LegacyProfile, user_id: uuid.UUID, today: dt.date, skips: list[Skip]
) -> nutrition.BodyWrite:
    """The body metrics of the legacy profile; each value our rules refuse is skipped (the
    rest is imported). The age becomes a birth date (``birth_date_for``) as of the profile's
    last update."""
    stamp = profile.updated_at or profile.created_at
    measured_on = stamp.date() if stamp else today
    accepted: dict[str, Any] = {}
    for column, name in BODY_FIELDS.items():
        raw = getattr(profile, column)
        if raw is None:
            continue
        value = birth_date_for(raw, measured_on) if column == "age" else raw
        value = float(value) if isinstance(value, Decimal) else value
        reason = refusal(nutrition.BodyWrite, {name: value})
        if reason is None:
            accepted[name] = value
            continue
        if column == "age":
            reason = f"an age of {raw} on {measured_on} is a birth_date of {value}: {reason}"
        skips.append(Skip("user_profiles", profile.id, user_id, reason, column, raw))
    return nutrition.BodyWrite.model_validate(accepted)


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _goals(
    goals: list[LegacyGoal],
    zone: ZoneInfo,
    now: dt.datetime,
    user_id: uuid.UUID,
    skips: list[Skip],
) -> list[ImportedGoal]:
    """The goals in the order they were set. Each ends when the next one starts (the last,
    if inactive, when it was last updated); the newest active one is the current goal."""

    def start(goal: LegacyGoal) -> dt.datetime:
        return instant(goal.created_at, zone) or instant(goal.updated_at, zone) or now

    ordered = sorted(goals, key=lambda goal: (start(goal), goal.id))
    current = next((goal for goal in reversed(ordered) if goal.is_active), None)
    imported = []
    for index, goal in enumerate(ordered):
        started = start(goal)
        ended: dt.datetime | None = None
        if goal is not current:
            following = ordered[index + 1] if index + 1 < len(ordered) else None
            end = start(following) if following else instant(goal.updated_at, zone)
            ended = max(end or started, started)
        converted = _goal(goal, started, ended, user_id, skips)
        if converted is not None:
            imported.append(converted)
    return imported


def _goal(
    goal: LegacyGoal,
    started: dt.datetime,
    ended: dt.datetime | None,
    user_id: uuid.UUID,
    skips: list[Skip],
) -> ImportedGoal | None:
    def refuse(reason: str, column: str | None = None, value: Any = None) -> None:
        skips.append(Skip("calorie_goals", goal.id, user_id, reason, column, value))

    reason = refusal(nutrition.GoalWrite, {"goal_type": goal.goal_type})
    if reason is not None:
        refuse(reason)
        return None
    weight = _float(goal.target_weight_kg)
    data = {"goal_type": goal.goal_type, "target_weight_kg": weight}
    if weight is not None and (reason := refusal(nutrition.GoalWrite, data)) is not None:
        refuse(reason, "target_weight_kg", goal.target_weight_kg)
        weight = None
    target_date = goal.target_date
    if target_date is not None and not YEAR_MIN <= target_date.year <= YEAR_MAX:
        refuse(f"the year must be {YEAR_MIN}-{YEAR_MAX}", "target_date", target_date)
        target_date = None
    daily: int | None = goal.daily_calorie_target
    override = {"calorie_target_override": daily}
    if (reason := refusal(nutrition.EatingWrite, override)) is not None:
        refuse(reason, "daily_calorie_target", daily)
        daily = None
    return ImportedGoal(goal.id, goal.goal_type, weight, target_date, started, ended, daily)
