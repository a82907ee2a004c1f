"""Writing one planned user: one transaction, through the domains' services, in the order
that leaves the calorie target history right (goals and their targets, then body metrics,
weights, and the calorie events with their rollups)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import public as nutrition
from profilestore.domains.profiles import public as profiles
from profilestore.importers.calorie_balance.conversions import Skip
from profilestore.importers.calorie_balance.mapping import AccountPlan
from profilestore.platform.db import Database
from profilestore.platform.errors import ProblemError
from profilestore.platform.events.outbox import EventOptions
from profilestore.platform.uow import SETTINGS
from profilestore.settings import Settings

importer = nutrition.legacy_import


class AccountRefused(Exception):
    """The profile write refused the user (the username is taken here, or reserved): nothing
    of the user was written."""


@dataclass(frozen=True)
class Written:
    """What one user's transaction added (zero everywhere: the user was imported before)."""

    profile: bool
    body: bool
    goals: int
    weights: int
    events: int


async def write_account(database: Database, settings: Settings, plan: AccountPlan) -> Written:
    """Import ``plan`` in one transaction (``AccountRefused``: none of it). Rows the services
    refuse are added to ``plan.skips``."""
    async with database.write_session() as session:
        session.info[SETTINGS] = settings
        session.info["event_options"] = EventOptions(
            source=settings.events_source, include_private=settings.events_include_private
        )
        async with session.begin():
            return await _write(session, plan)


async def _write(session: AsyncSession, plan: AccountPlan) -> Written:
    user_id = plan.user_id
    created = not await profiles.profile_exists(session, user_id)
    if created:
        try:
            await profiles.put_profile(session, user_id, plan.profile)
        except ProblemError as exc:
            reason = importer.problem_text(exc)
            raise AccountRefused(f"username {plan.profile.username!r}: {reason}") from None
    goals, refused_goals = await importer.import_goals(session, user_id, plan.goals)
    reason = "the user already has goals here: goals are imported only for a user with none"
    plan.skips += [Skip("calorie_goals", goal.goal_id, user_id, reason) for goal in refused_goals]
    body = plan.body is not None and await importer.import_body(session, user_id, plan.body)
    weights, refused_weights = await importer.import_weights(session, user_id, plan.weights)
    plan.skips += [
        Skip("calorie_events", plan.weight_rows[entry.day], user_id, why)
        for entry, why in refused_weights
    ]
    events = await importer.import_events(session, user_id, plan.events)
    return Written(created, body, goals, weights, events)
