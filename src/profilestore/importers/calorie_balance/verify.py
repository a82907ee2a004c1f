"""The verification after an import: per user and kind, the source's calorie events (counted
and summed by the source database, less the ones the import skipped) against the events
imported here, and the rollups against every event of the user here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from profilestore.domains.nutrition import public as nutrition
from profilestore.importers.calorie_balance.ledger import KINDS, SOURCE_TAG
from profilestore.importers.calorie_balance.legacy import LegacyDatabase
from profilestore.importers.calorie_balance.mapping import AccountPlan

KindTotals = nutrition.legacy_import.KindTotals
BURNED = ("burned_activity", "burned_other")


@dataclass(frozen=True)
class UserCheck:
    """One user's verification: ``expected`` (source less skipped) and ``imported`` per kind,
    and whether the rollups hold exactly the user's events."""

    user_id: uuid.UUID
    username: str
    expected: dict[str, KindTotals]
    imported: dict[str, KindTotals]
    rollups_match: bool

    @property
    def problems(self) -> list[str]:
        found = [] if self.expected == self.imported else ["events differ"]
        return found if self.rollups_match else [*found, "rollups differ from the events"]

    def row(self) -> tuple[str, ...]:
        def pair(kinds: tuple[str, ...], part: str) -> str:
            source = sum(getattr(self.expected[k], part) for k in kinds)
            here = sum(getattr(self.imported[k], part) for k in kinds)
            return f"{_shown(source, part)} / {_shown(here, part)}"

        every = tuple(KINDS.values())
        return (
            str(self.user_id),
            self.username,
            pair(every, "count"),
            pair(("consumed",), "mkcal"),
            pair(BURNED, "mkcal"),
            "; ".join(self.problems) or "ok",
        )


HEADER = ("user", "username", "events", "consumed kcal", "burned kcal", "check")
"""Columns of the verification table; the figures are "source / here"."""


def _shown(value: int, part: str) -> str:
    return str(value) if part == "count" else f"{Decimal(value).scaleb(-3):.3f}"


async def check_users(
    legacy: LegacyDatabase, session: AsyncSession, plans: list[AccountPlan]
) -> list[UserCheck]:
    """The verification of the imported users ``plans``."""
    ids = [plan.user_id for plan in plans]
    source = await legacy.event_totals(ids)
    here = await nutrition.legacy_import.ledger_totals(session, ids, SOURCE_TAG)
    return [
        UserCheck(
            plan.user_id,
            plan.profile.username,
            _expected(source.get(plan.user_id, {}), plan),
            here[plan.user_id].imported,
            here[plan.user_id].rollups_match_events,
        )
        for plan in plans
    ]


def _expected(source: dict[str, tuple[int, Decimal]], plan: AccountPlan) -> dict[str, KindTotals]:
    """Per kind here: the source's events of the legacy type, less those skipped."""
    expected = {}
    for legacy_type, kind in KINDS.items():
        count, amount = source.get(legacy_type, (0, Decimal(0)))
        expected[kind] = KindTotals(count, int(amount * 1000))
    for skip in plan.skips:
        if skip.kind is not None:
            expected[skip.kind].count -= 1
            expected[skip.kind].mkcal -= int(skip.amount * 1000)
    return expected


def table(checks: list[UserCheck]) -> list[str]:
    """The verification as aligned text lines, a header first."""
    rows = [HEADER, *(check.row() for check in checks)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
