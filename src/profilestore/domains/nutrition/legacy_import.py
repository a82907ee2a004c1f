"""The nutrition domain's side of importing another system's data (``profilestore import
calorie-balance``): body metrics, weights, goals with their own ids and timing, the calorie
targets of those goals, and calorie events; and the per-kind totals an import verifies.

Writes go through the domain's services (validation, outbox events, rollups as for API
writes) and only where the user has nothing yet, keyed on the other system's ids where it
has them: an import run again adds nothing and never overwrites what the user changed since."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import body, calories, eating, events, targets
from profilestore.domains.nutrition.models import (
    Body,
    CalorieEvent,
    DayRollup,
    Eating,
    Goal,
    HourRollup,
    TargetChange,
    WeightEntry,
)
from profilestore.domains.nutrition.schemas import (
    MAX_BATCH,
    BodyWrite,
    CalorieWrite,
    EatingWrite,
    WeightLog,
)
from profilestore.platform import owners
from profilestore.platform.errors import ProblemError, not_found

KINDS = ("consumed", "burned_activity", "burned_other")


@dataclass(frozen=True)
class ImportedGoal:
    """A goal as the other system held it: its id, when it started and ended (None: the
    current goal), and the daily calorie target set with it (None: none we accept)."""

    goal_id: uuid.UUID
    goal_type: str
    target_weight_kg: float | None
    target_date: dt.date | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    daily_target: int | None


async def import_body(session: AsyncSession, user_id: uuid.UUID, data: BodyWrite) -> bool:
    """Set the body metrics of a user who has none here (True); else leave them (False)."""
    if await session.get(Body, user_id) is not None:
        return False
    await body.put_body(session, user_id, data, if_match=None)
    return True


async def import_weights(
    session: AsyncSession, user_id: uuid.UUID, weights: list[WeightLog]
) -> tuple[int, list[tuple[WeightLog, str]]]:
    """Log the weights of days that have none here; how many were logged, and those the
    weight log refused, with its reason."""
    statement = select(WeightEntry.day).where(WeightEntry.user_id == user_id)
    logged = set((await session.execute(statement)).scalars())
    written, refused = 0, []
    for entry in weights:
        if entry.day in logged:
            continue
        try:
            async with session.begin_nested():
                await body.log_weight(session, user_id, entry)
        except ProblemError as exc:
            refused.append((entry, problem_text(exc)))
            continue
        logged.add(entry.day)
        written += 1
    return written, refused


def problem_text(error: ProblemError) -> str:
    """A refusal as one line: each field's message, else the detail."""
    if not error.errors:
        return error.detail
    return "; ".join(f"{e.field.removeprefix('body.')}: {e.message}" for e in error.errors)


async def import_events(
    session: AsyncSession, user_id: uuid.UUID, entries: list[CalorieWrite]
) -> int:
    """Log the events (each with its ``event_id``) in batches of the ledger's largest, in the
    caller's transaction; how many were new (one already here is not counted twice)."""
    created = 0
    for start in range(0, len(entries), MAX_BATCH):
        _, new = await calories.log(session, user_id, entries[start : start + MAX_BATCH])
        created += new
    return created


async def import_goals(
    session: AsyncSession, user_id: uuid.UUID, goals: list[ImportedGoal]
) -> tuple[int, list[ImportedGoal]]:
    """Add the goals of a user who has none here, as they were (the one without an end is
    the active goal, announced as ``GoalSet``); every goal's daily target enters the target
    history from the goal's start, and the current goal's becomes the calorie target override
    unless the user set one here. Returns how many were added, and the goals refused because
    the user already has other goals here (goals already imported are skipped quietly)."""
    if not goals:
        return 0, []
    if not await owners.lock_owner(session, user_id):
        raise not_found("profile")
    statement = select(Goal.goal_id).where(Goal.user_id == user_id)
    here = set((await session.execute(statement)).scalars())
    if here:
        return 0, [goal for goal in goals if goal.goal_id not in here]
    session.add_all(_goal_row(user_id, goal) for goal in goals)
    await _record_targets(session, user_id, goals)
    current = next((goal for goal in goals if goal.ended_at is None), None)
    if current is not None:
        _announce_goal(session, user_id, current)
        if current.daily_target is not None:
            await _override_target(session, user_id, current.daily_target)
    await targets.refresh(session, user_id)
    return len(goals), []


def _goal_row(user_id: uuid.UUID, goal: ImportedGoal) -> Goal:
    return Goal(
        user_id=user_id,
        goal_id=goal.goal_id,
        goal_type=goal.goal_type,
        target_weight_kg=goal.target_weight_kg,
        target_date=goal.target_date,
        rate_kg_per_week=None,
        started_at=goal.started_at,
        ended_at=goal.ended_at,
    )


def _announce_goal(session: AsyncSession, user_id: uuid.UUID, goal: ImportedGoal) -> None:
    events.goal_set(
        session,
        user_id,
        {
            "goal_id": str(goal.goal_id),
            "goal_type": goal.goal_type,
            "target_weight_kg": goal.target_weight_kg,
            "target_date": goal.target_date.isoformat() if goal.target_date else None,
            "rate_kg_per_week": None,
        },
    )


async def _record_targets(
    session: AsyncSession, user_id: uuid.UUID, goals: list[ImportedGoal]
) -> None:
    """Each goal's daily target, in force from the goal's start (of goals starting at the same
    instant, the last one's), where the history has no entry at that instant; announced as
    ``CalorieTargetChanged`` if the newest entry of the history changed."""
    by_instant = {g.started_at: g.daily_target for g in goals if g.daily_target is not None}
    if not by_instant:
        return
    before = await _newest_target(session, user_id)
    statement = select(TargetChange.effective_at).where(TargetChange.user_id == user_id)
    taken = set((await session.execute(statement)).scalars())
    session.add_all(
        TargetChange(user_id=user_id, effective_at=at, kcal=kcal, source="override", clamped=False)
        for at, kcal in by_instant.items()
        if at not in taken
    )
    await session.flush()
    after = await _newest_target(session, user_id)
    if after is not None and (before is None or before.effective_at != after.effective_at):
        old = before.kcal if before is not None else None
        events.calorie_target_changed(session, user_id, old, after.kcal, after.source)


async def _newest_target(session: AsyncSession, user_id: uuid.UUID) -> TargetChange | None:
    statement = (
        select(TargetChange)
        .where(TargetChange.user_id == user_id)
        .order_by(TargetChange.effective_at.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _override_target(session: AsyncSession, user_id: uuid.UUID, kcal: int) -> None:
    """The current goal's daily target as the override, through the eating profile (one the
    user set here stands)."""
    row = await session.get(Eating, user_id)
    if row is None:
        data = EatingWrite(calorie_target_override=kcal)
        await eating.put_eating(session, user_id, data, if_match=None)
    elif row.calorie_target_override is None:
        patch = {"calorie_target_override": kcal}
        await eating.patch_eating(session, user_id, patch, if_match=None)


@dataclass
class KindTotals:
    """Events of one kind: how many, and their kcal in millikcal (exact)."""

    count: int = 0
    mkcal: int = 0


def _empty() -> dict[str, KindTotals]:
    return {kind: KindTotals() for kind in KINDS}


@dataclass
class LedgerTotals:
    """A user's ledger per kind: the events an import wrote (tagged with its ``source``),
    every event, and what the daily and the hourly rollups hold."""

    imported: dict[str, KindTotals] = field(default_factory=_empty)
    events: dict[str, KindTotals] = field(default_factory=_empty)
    daily: dict[str, KindTotals] = field(default_factory=_empty)
    hourly: dict[str, KindTotals] = field(default_factory=_empty)

    @property
    def rollups_match_events(self) -> bool:
        return self.daily == self.events == self.hourly


async def ledger_totals(
    session: AsyncSession, user_ids: list[uuid.UUID], source: str
) -> dict[uuid.UUID, LedgerTotals]:
    """The ledger totals of ``user_ids``; ``source`` tags the imported events."""
    totals = {user_id: LedgerTotals() for user_id in user_ids}
    mkcal = func.sum(func.round(CalorieEvent.kcal * 1000))
    base = (
        select(CalorieEvent.user_id, CalorieEvent.kind, func.count(), mkcal)
        .where(CalorieEvent.user_id.in_(user_ids))
        .group_by(CalorieEvent.user_id, CalorieEvent.kind)
    )
    for user_id, kind, count, kcal in await session.execute(base):
        totals[user_id].events[kind] = KindTotals(count, int(kcal))
    imported = base.where(CalorieEvent.source == source)
    for user_id, kind, count, kcal in await session.execute(imported):
        totals[user_id].imported[kind] = KindTotals(count, int(kcal))
    for model, name in ((DayRollup, "daily"), (HourRollup, "hourly")):
        await _rollup_totals(session, model, user_ids, totals, name)
    return totals


async def _rollup_totals(
    session: AsyncSession,
    model: type[DayRollup] | type[HourRollup],
    user_ids: list[uuid.UUID],
    totals: dict[uuid.UUID, LedgerTotals],
    name: str,
) -> None:
    prefixes = ("consumed", "activity", "other")
    columns = [
        func.sum(getattr(model, f"{prefix}_{part}"))
        for prefix in prefixes
        for part in ("count", "mkcal")
    ]
    statement = (
        select(model.user_id, *columns).where(model.user_id.in_(user_ids)).group_by(model.user_id)
    )
    for user_id, *sums in await session.execute(statement):
        kinds: dict[str, KindTotals] = getattr(totals[user_id], name)
        for index, kind in enumerate(KINDS):
            kinds[kind] = KindTotals(int(sums[2 * index]), int(sums[2 * index + 1]))
