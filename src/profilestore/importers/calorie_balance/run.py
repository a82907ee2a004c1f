"""``profilestore import calorie-balance``: check the target and the source, then import the
legacy users page by page (one transaction per user) and verify each page once written."""

from __future__ import annotations

import asyncio
import zoneinfo
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from profilestore.domains import canonical
from profilestore.domains.registry import selected
from profilestore.importers.calorie_balance.conversions import Skip
from profilestore.importers.calorie_balance.legacy import PAGE_SIZE, LegacyDatabase, SourceError
from profilestore.importers.calorie_balance.mapping import plan_account, refused_account
from profilestore.importers.calorie_balance.report import ImportReport
from profilestore.importers.calorie_balance.verify import check_users
from profilestore.importers.calorie_balance.writer import AccountRefused, write_account
from profilestore.migrations import runner
from profilestore.platform.db import Database, utcnow
from profilestore.platform.registry import install
from profilestore.settings import Settings

NEEDED_DOMAINS = {"profiles", "nutrition"}


class ImportRefused(Exception):
    """The import cannot start (the message says why); nothing was written."""


def import_calorie_balance(
    settings: Settings,
    source_url: str,
    *,
    timezone: str | None,
    echo: Callable[[str], None],
    page_size: int = PAGE_SIZE,
) -> ImportReport:
    """Import the calorie-balance database at ``source_url`` into the target of ``settings``
    (migrated, serving the profiles and nutrition domains). ``timezone``: the zone the
    source's timestamps are wall-clock times of (also each new profile's); None: UTC."""
    if timezone is not None and timezone not in zoneinfo.available_timezones():
        raise ImportRefused(f"--timezone {timezone!r} is not an IANA time zone name")
    check_target(settings)
    try:
        return asyncio.run(_import(settings, source_url, timezone, echo, page_size))
    except SourceError as exc:
        raise ImportRefused(str(exc)) from None


def check_target(settings: Settings) -> None:
    """The target serves the profiles and nutrition domains and is migrated for them."""
    served = set(canonical(settings.domains))
    if not served >= NEEDED_DOMAINS:
        raise ImportRefused(
            "the target must serve the profiles and nutrition domains "
            f"(PROFILESTORE_DOMAINS is {','.join(sorted(served))})"
        )
    url = settings.effective_database_url
    try:
        migrated = runner.heads(settings.domains) <= runner.revisions_at(url)
    except (OSError, DBAPIError) as exc:
        raise ImportRefused(f"cannot reach the target database: {exc}") from None
    if not migrated:
        raise ImportRefused("the target database is not migrated: run `profilestore db upgrade`")


async def _import(
    settings: Settings,
    source_url: str,
    timezone: str | None,
    echo: Callable[[str], None],
    page_size: int,
) -> ImportReport:
    install(selected(settings.domains))
    legacy = LegacyDatabase(source_url)
    database = Database(settings)
    report = ImportReport()
    try:
        total = await legacy.check()
        async for page in legacy.pages(page_size):
            plans = []
            for account in page:
                plan = plan_account(account, timezone, utcnow())
                if isinstance(plan, Skip):
                    report.skips.append(plan)
                    continue
                try:
                    written = await write_account(database, settings, plan)
                except AccountRefused as exc:
                    report.skips.append(refused_account(account, str(exc)))
                    continue
                report.add(plan, written)
                plans.append(plan)
            async with database.read_session() as session:
                report.checks += await check_users(legacy, session, plans)
            echo(f"... {report.users + _users_skipped(report)} of {total} users read")
    finally:
        await legacy.dispose()
        await database.dispose()
    return report


def _users_skipped(report: ImportReport) -> int:
    return sum(skip.table == "users" for skip in report.skips)
