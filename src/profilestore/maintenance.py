"""Maintenance jobs behind the command line, one transaction per user so that a long run
never holds a lock for long and an interruption keeps what was done."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from profilestore.domains.movement import public as movement
from profilestore.domains.nutrition import public as nutrition
from profilestore.domains.registry import selected
from profilestore.platform.db import Database
from profilestore.platform.registry import install
from profilestore.settings import Settings


@dataclass
class RebuildReport:
    users: int = 0
    events: int = 0
    users_differing: int = 0
    hours_differing: int = 0
    days_differing: int = 0


async def rebuild_rollups(
    settings: Settings,
    user: uuid.UUID | None,
    *,
    check: bool,
    echo: Callable[[str], None],
    db: Database | None = None,
) -> RebuildReport:
    """Rebuild (or with ``check`` only compare) the calorie rollups of ``user`` or of every
    user with a ledger; prints a line per user whose rollups differed, and a total. The
    timezone is the owner directory's of the domains ``settings`` serves (the profile's, or
    the ``owners`` table's where identity is served elsewhere)."""
    install(selected(settings.domains))
    database = db or Database(settings)
    report = RebuildReport()
    try:
        async with database.read_session() as session:
            users = [user] if user else await nutrition.ledger_owners(session)
        for user_id in users:
            async with database.write_session() as session, session.begin() as transaction:
                found = await nutrition.rebuild_rollups(session, user_id)
                if check:
                    await transaction.rollback()
            _count(report, user_id, found, echo, check)
    finally:
        if db is None:
            await database.dispose()
    verb = "checked" if check else "rebuilt"
    echo(
        f"{verb} the rollups of {report.users} users ({report.events} events): "
        f"{report.users_differing} differed ({report.hours_differing} hours, "
        f"{report.days_differing} days)"
    )
    return report


def _count(
    report: RebuildReport,
    user_id: uuid.UUID,
    found: nutrition.Rebuilt | None,
    echo: Callable[[str], None],
    check: bool,
) -> None:
    if found is None:
        echo(f"{user_id}: no such profile")
        return
    report.users += 1
    report.events += found.events
    if found.hours_differing or found.days_differing:
        report.users_differing += 1
        report.hours_differing += found.hours_differing
        report.days_differing += found.days_differing
        fixed = "" if check else " (fixed)"
        echo(
            f"{user_id}: {found.hours_differing} hours and {found.days_differing} days "
            f"differed from a recount{fixed}"
        )


async def load_programs(
    settings: Settings, path: Path, *, echo: Callable[[str], None], db: Database | None = None
) -> dict[str, int]:
    """Load a programme catalogue file in one transaction (all of it or, if one entry is
    invalid, none: the ProblemError names each bad entry and field)."""
    payload = movement.read_catalogue(path)
    database = db or Database(settings)
    try:
        async with database.write_session() as session, session.begin():
            counts = await movement.load_programs(session, payload)
    finally:
        if db is None:
            await database.dispose()
    echo(
        f"loaded {path.name}: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )
    return counts
